// The end-to-end tests' HTTP backend. Every request, whatever its path or method, gets one
// JSON line naming the pod and node that answered and the client address this process saw,
// so a test can tell which Pod a VIP led to and whether the source address survived
// (externalTrafficPolicy: Local keeps it, Cluster does not).
//
// Environment: PORT (default 8080), POD_NAME (else the hostname), NODE_NAME.
// One dual-stack listener on [::] serves IPv4 clients as well (IPv4-mapped addresses are
// reported in their IPv4 form).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const version = "purelb-echo 1"

type reply struct {
	Pod        string `json:"pod"`
	Node       string `json:"node"`
	Client     string `json:"client"`
	ClientPort int    `json:"clientPort"`
	Server     string `json:"server"`
	Host       string `json:"host"`
	Method     string `json:"method"`
	Path       string `json:"path"`
}

// addrPort splits a net/http RemoteAddr ("1.2.3.4:5" or "[::1]:5") and unmaps IPv4.
func addrPort(s string) (string, int) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s, 0
	}
	return ap.Addr().Unmap().String(), int(ap.Port())
}

func handler(pod, node string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, port := addrPort(r.RemoteAddr)
		server := ""
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			server, _ = addrPort(a.String())
		}
		body, _ := json.Marshal(reply{
			Pod: pod, Node: node, Client: client, ClientPort: port, Server: server,
			Host: r.Host, Method: r.Method, Path: r.URL.Path,
		})
		w.Header().Set("Content-Type", "application/json")
		// Each answer on a fresh connection, so that every request of a failover test is
		// balanced anew instead of riding one kept-alive connection to one Pod.
		w.Header().Set("Connection", "close")
		_, _ = w.Write(append(body, '\n'))
	})
}

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	port := 8080
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			log.Fatalf("echo: PORT=%q is not a port number", p)
		}
		port = n
	}
	pod := os.Getenv("POD_NAME")
	if pod == "" {
		pod, _ = os.Hostname()
	}
	node := os.Getenv("NODE_NAME")

	// "tcp" on an empty host is a dual-stack socket (IPV6_V6ONLY off) where IPv6 exists and
	// plain IPv4 where it does not.
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		log.Fatalf("echo: %v", err)
	}
	srv := &http.Server{Handler: handler(pod, node), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("echo: pod %q on node %q listening on %s", pod, node, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("echo: %v", err)
	}
}
