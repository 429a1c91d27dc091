package alerts

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// target is one /metrics endpoint under the job and instance labels Prometheus would give it.
type target struct{ job, instance, url string }

// scraped is one scrape of a target: the file holding what it returned, empty when it failed.
type scraped struct {
	target
	at   time.Time
	file string
}

// spec is the scrape as a promrules -scrape argument.
func (s scraped) spec() string {
	spec := fmt.Sprintf("job=%s,instance=%s,time=%d", s.job, s.instance, s.at.UnixMilli())
	if s.file != "" {
		spec += ",file=" + s.file
	}
	return spec
}

// Test traffic goes to 127.0.0.1 only, never through a proxy of the environment.
var client = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 3 * time.Second}

// get returns the exposition text of a target, or an error when the scrape fails.
func get(tg target) ([]byte, error) {
	resp, err := client.Get(tg.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", tg.url, resp.Status)
	}
	return body, err
}

// scrapeRounds scrapes every target n times, scrapeGap apart, into files of the test's temp dir.
func scrapeRounds(t *testing.T, n int, targets ...target) []scraped {
	t.Helper()
	dir := t.TempDir()
	var out []scraped
	for i := range n {
		if i > 0 {
			time.Sleep(scrapeGap)
		}
		for _, tg := range targets {
			s := scraped{target: tg, at: time.Now()}
			body, err := get(tg)
			if err != nil {
				t.Logf("scrape of %s failed: %v", tg.instance, err)
			} else {
				f, err := os.CreateTemp(dir, "scrape-*.txt")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(body); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				s.file = f.Name()
			}
			out = append(out, s)
		}
	}
	return out
}

// replay returns steps scrapes of the file of s at start, start+every, ...
func replay(s scraped, start time.Time, every time.Duration, steps int) []scraped {
	var out []scraped
	for i := range steps {
		r := s
		r.at = start.Add(time.Duration(i) * every)
		out = append(out, r)
	}
	return out
}

// sum adds the samples of a selector in an exposition: a metric name, optionally followed by
// {k="v",...}, pairs that each sample's labels must all have. ok is false when none matches.
func sum(exposition []byte, selector string) (total float64, ok bool) {
	name, matchers, _ := strings.Cut(strings.TrimSuffix(selector, "}"), "{")
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), name)
		if !found || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels, value := "", rest
		if end := strings.LastIndex(rest, "}"); rest[0] == '{' && end > 0 {
			labels, value = rest[:end+1], rest[end+1:]
		}
		match := true
		for m := range strings.SplitSeq(matchers, ",") {
			match = match && strings.Contains(labels, m)
		}
		fields := strings.Fields(value)
		if !match || len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			total, ok = total+v, true
		}
	}
	return total, ok
}

// awaitMetric waits until the sum of a metric of a target satisfies want.
func awaitMetric(t *testing.T, tg target, name string, want func(float64) bool) {
	t.Helper()
	last := "never scraped"
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, timeout, true, func(context.Context) (bool, error) {
		body, err := get(tg)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		v, ok := sum(body, name)
		last = fmt.Sprintf("%v (present: %v)", v, ok)
		return ok && want(v), nil
	})
	if err != nil {
		t.Fatalf("%s: %s never as wanted, last %s", tg.instance, name, last)
	}
}

// metricValue is the sum of a metric of a target now.
func metricValue(t *testing.T, tg target, name string) float64 {
	t.Helper()
	body, err := get(tg)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := sum(body, name)
	if !ok {
		t.Fatalf("%s has no %s", tg.instance, name)
	}
	return v
}
