package gather

import (
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterset/clusterset/syncer/inspect"
)

// Query is one name to ask one DNS server (host:port) for.
type Query struct {
	Server, Name string
}

// Reply is a server's answer to a Query, or why there is none.
type Reply struct {
	Answer *inspect.Answer
	Err    error
}

// Resolve asks for the A and AAAA records of every query, each question bounded by timeout.
// Servers are asked in parallel, a server's names one after the other; a server that did not
// answer once is not asked again, so that a dead server costs one timeout, not one per name.
func Resolve(queries []Query, timeout time.Duration) []Reply {
	replies := make([]Reply, len(queries))
	byServer := map[string][]int{}
	for i, q := range queries {
		byServer[q.Server] = append(byServer[q.Server], i)
	}
	var wg sync.WaitGroup
	for server, indexes := range byServer {
		wg.Go(func() {
			var dead error
			for _, i := range indexes {
				if dead != nil {
					replies[i] = Reply{Err: dead}
					continue
				}
				a, err := lookup(server, queries[i].Name, timeout)
				replies[i] = Reply{Answer: a, Err: err}
				dead = err
			}
		})
	}
	wg.Wait()
	return replies
}

// lookup asks server for name's A and AAAA records: the A question's response code, and the
// addresses of both.
func lookup(server, name string, timeout time.Duration) (*inspect.Answer, error) {
	var answer inspect.Answer
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := exchange(server, name, qtype, timeout)
		if err != nil {
			return nil, err
		}
		if qtype == dns.TypeA {
			answer.Rcode = dns.RcodeToString[r.Rcode]
		}
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				answer.Addresses = append(answer.Addresses, rr.A.String())
			case *dns.AAAA:
				answer.Addresses = append(answer.Addresses, rr.AAAA.String())
			}
		}
	}
	return &answer, nil
}

// exchange asks over UDP, and again over TCP when the answer was truncated.
func exchange(server, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := (&dns.Client{Net: "udp", Timeout: timeout}).Exchange(m, server)
	if err == nil && r.Truncated {
		r, _, err = (&dns.Client{Net: "tcp", Timeout: timeout}).Exchange(m, server)
	}
	return r, err
}
