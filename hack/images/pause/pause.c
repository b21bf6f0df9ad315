/*
 * The pod sandbox's process: holds the pod's namespaces open until the kubelet stops the
 * sandbox. As PID 1 of the pod's PID namespace (shareProcessNamespace) it also reaps orphans,
 * so it waits for signals instead of sleeping: SIGINT/SIGTERM end it, SIGCHLD reaps.
 * Built with gcc -static so that the image needs no libc.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "purelb-pause 3.10"

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    puts(VERSION);
    return 0;
  }
  if (getpid() != 1) fputs("pause: warning: not PID 1, orphans are not reaped here\n", stderr);

  /* Block the signals and take them synchronously: no handler can race with the loop. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
    perror("pause: sigprocmask");
    return 1;
  }
  for (;;) {
    int sig = 0;
    int err = sigwait(&set, &sig);
    if (err != 0) {
      fprintf(stderr, "pause: sigwait: %s\n", strerror(err));
      return 1;
    }
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      continue;
    }
    fprintf(stderr, "pause: shutting down, got signal %d\n", sig);
    return 0;
  }
}
