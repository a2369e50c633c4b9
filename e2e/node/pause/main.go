// The pod sandbox's process (containerd's sandbox_image): it holds the pod's namespaces and
// waits until it is stopped. Built static, in a FROM scratch image, since none can be pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
