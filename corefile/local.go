package corefile

import (
	"fmt"
	"strconv"
)

// LocalOptions describes a standalone CoreDNS that serves only the clusterset
// zone for one cluster, as the demo and the tests run one per cluster on a
// loopback address.
type LocalOptions struct {
	Clusterset Clusterset
	Bind       string // address to listen on, such as "127.0.0.2"; empty listens on all
	Port       int    // DNS port; 0 means 53
	Ready      string // listen address of the /ready endpoint, such as "127.0.0.2:8181"; empty leaves ready out
	Health     string // listen address of the /health endpoint; empty leaves health out
	Prometheus string // listen address of the /metrics endpoint; empty leaves prometheus out
	// Cache is how many seconds the cache plugin may keep an answer; 0 leaves
	// the cache out, so answers follow the cluster at once.
	Cache int
	Log   bool // log every query
}

// Local returns the Corefile of the server o describes.
func Local(o LocalOptions) ([]byte, error) {
	c, err := o.Clusterset.normalized()
	if err != nil {
		return nil, err
	}
	if o.Port == 0 {
		o.Port = 53
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, fmt.Errorf("corefile: port %d is outside 1..65535", o.Port)
	}
	if o.Cache < 0 {
		return nil, fmt.Errorf("corefile: cache %d is negative", o.Cache)
	}
	for _, a := range []string{o.Bind, o.Ready, o.Health, o.Prometheus} {
		if err := checkArg(a); err != nil {
			return nil, err
		}
	}
	w := newWriter("    ", "\n")
	w.line(0, c.Zone+":"+strconv.Itoa(o.Port), "{")
	optional := func(name, value string) {
		if value != "" {
			w.line(1, name, arg(value))
		}
	}
	optional("bind", o.Bind)
	w.line(1, "errors")
	if o.Log {
		w.line(1, "log")
	}
	optional("health", o.Health)
	optional("ready", o.Ready)
	optional("prometheus", o.Prometheus)
	if o.Cache > 0 {
		w.line(1, "cache", strconv.Itoa(o.Cache))
	}
	c.write(w, 1)
	w.line(0, "}")
	return w.bytes(), nil
}
