// Command etcd is etcd's server entry point. Upstream keeps it in a module
// whose go.mod only works inside the etcd tree, so we wrap etcdmain here.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
