package main

import (
	"maps"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"4242 (coredns) S 1 4242 4242 0 -1 4194560 2319 0 0 0 150 25 0 0 20 0 9 0 1234 0 0", 1750 * time.Millisecond, true},
		{"7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 9 0 0", 70 * time.Millisecond, true},
		{"7 (x) R 1 2 3", 0, false},
		{"garbage", 0, false},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 4 0 0", 0, false},
	}
	for _, tc := range tests {
		got, err := parseStatCPU(tc.stat)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, ok %t", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	got, err := parseStatusMemory("Name:\tcoredns\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 1200 kB\nRssFile:\t 50034 kB\n")
	if want := (memory{rss: 51234 * 1024, anon: 1200 * 1024}); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	for _, status := range []string{"Name:\tx\n", "VmRSS:\t 1 kB\n", "RssAnon:\t 1 kB\n", "VmRSS:\t 1 MB\nRssAnon:\t 1 kB\n"} {
		if _, err := parseStatusMemory(status); err == nil {
			t.Errorf("no error for %q", status)
		}
	}
}

func TestParseDNSPerf(t *testing.T) {
	out := `DNS Performance Testing Tool
Statistics:

  Queries sent:         100040
  Queries completed:    100000 (99.96%)
  Queries lost:         40 (0.04%)

  Response codes:       NOERROR 95000 (95.00%), NXDOMAIN 5000 (5.00%)
  Average packet size:  request 40, response 56
  Run time (s):         10.000345
  Queries per second:   9999.65
`
	got, err := parseDNSPerf(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.completed != 100000 || got.qps != 9999.65 || !maps.Equal(got.rcodes, map[string]int64{"NOERROR": 95000, "NXDOMAIN": 5000}) {
		t.Errorf("got %+v", got)
	}
	if _, err := parseDNSPerf("[Status] Command line: dnsperf\nError: could not open file\n"); err == nil {
		t.Error("no error without statistics")
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
