package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (it is part of the kernel ABI, independent of CONFIG_HZ).
const clockTicks = 100

// cpuTime is the user plus system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after its ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed stat %q: %v", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// memory is what /proc/<pid>/status says of a process's resident memory.
type memory struct {
	rss  int64 // VmRSS: every resident page, the binary's code and data included
	anon int64 // RssAnon: heap, stacks and the Go runtime's own memory, without file pages
}

func (m memory) minus(o memory) memory { return memory{m.rss - o.rss, m.anon - o.anon} }

// readMemory reads the resident memory of a process.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	return parseStatusMemory(string(b))
}

func parseStatusMemory(status string) (memory, error) {
	var m memory
	fields := map[string]*int64{"VmRSS:": &m.rss, "RssAnon:": &m.anon}
	found := 0
	for line := range strings.Lines(status) {
		for name, v := range fields {
			rest, ok := strings.CutPrefix(line, name)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return m, fmt.Errorf("malformed %s line %q", name, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return m, fmt.Errorf("malformed %s line %q: %v", name, line, err)
			}
			*v = kb * 1024
			found++
		}
	}
	if found != len(fields) {
		return m, fmt.Errorf("no VmRSS or RssAnon in status")
	}
	return m, nil
}

// perfResult is what one dnsperf run reports.
type perfResult struct {
	completed int64
	qps       float64
	rcodes    map[string]int64
}

// dnsperf runs dnsperf against 127.0.0.1:port for d and parses its statistics.
func dnsperf(port int, queryFile string, d time.Duration, clients, outstanding int) (perfResult, error) {
	cmd := exec.Command("dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", queryFile,
		"-l", strconv.Itoa(int(d.Seconds())), "-c", strconv.Itoa(clients), "-q", strconv.Itoa(outstanding), "-t", "2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return perfResult{}, fmt.Errorf("dnsperf: %v\n%s", err, out.String())
	}
	return parseDNSPerf(out.String())
}

func parseDNSPerf(out string) (perfResult, error) {
	r := perfResult{rcodes: map[string]int64{}}
	found := 0
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "Queries completed:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return r, fmt.Errorf("malformed %q", line)
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("malformed %q: %v", line, err)
			}
			r.completed = n
			found++
		}
		if rest, ok := strings.CutPrefix(line, "Queries per second:"); ok {
			q, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return r, fmt.Errorf("malformed %q: %v", line, err)
			}
			r.qps = q
			found++
		}
		if rest, ok := strings.CutPrefix(line, "Response codes:"); ok {
			// "NOERROR 95000 (95.00%), NXDOMAIN 5000 (5.00%)"
			for part := range strings.SplitSeq(rest, ",") {
				f := strings.Fields(part)
				if len(f) < 2 {
					return r, fmt.Errorf("malformed %q", line)
				}
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("malformed %q: %v", line, err)
				}
				r.rcodes[f[0]] = n
			}
		}
	}
	if found != 2 {
		return r, fmt.Errorf("no statistics in dnsperf output:\n%s", out)
	}
	return r, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
