package localenv

import (
	"fmt"
	"net"

	"github.com/clusterset/clusterset/test/proc"
)

// checkPortsFree fails with a clear message when a requested port is taken,
// before anything is started.
func checkPortsFree(ports []int) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is already in use; choose another --base-port or stop what holds it", p)
		}
		l.Close()
	}
	return nil
}

// portPlan assigns the ports of one environment. With base 0 every port is
// chosen by the kernel; otherwise they are consecutive from base: etcd client,
// etcd peer, then one apiserver port per cluster.
func portPlan(base, clusters int) (etcdClient, etcdPeer int, apiservers []int, err error) {
	n := 2 + clusters
	var ports []int
	if base == 0 {
		ports, err = proc.FreePorts("127.0.0.1", n)
	} else {
		if base < 1024 || base+n > 65535 {
			return 0, 0, nil, fmt.Errorf("--base-port %d: the %d ports from it must lie within 1024-65535", base, n)
		}
		for i := 0; i < n; i++ {
			ports = append(ports, base+i)
		}
		err = checkPortsFree(ports)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	return ports[0], ports[1], ports[2:], nil
}
