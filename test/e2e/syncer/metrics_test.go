package syncer

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/proc"
)

// TestMetrics scrapes cluster-1's pull-mode syncer over HTTP while its clusterset holds a
// valid export, a conflicting one, a refused one and a headless one, then while cluster-3's
// apiserver is stopped (SIGSTOP) and after it resumes: the state metrics follow the
// clusters, and the workqueue and rest-client metrics carry the queues and clusters.
func TestMetrics(t *testing.T) {
	s := newSuite(t, app.ModePull, false)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	url := s.serveMetrics(t, c1)

	const ns = "metrics"
	s.namespace(t, ns)
	httpPort := port("http", 80)
	s.faultExport(t, c1, ns, "web", corev1.ServiceAffinityNone, ips("10.150", 2), httpPort)
	notReady := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-starting", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{slicePort("http", 8080)},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.150.9.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}},
	}
	if _, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Create(s.ctx, notReady, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.faultExport(t, c2, ns, "web", corev1.ServiceAffinityNone, ips("10.151", 1), httpPort)
	s.faultExport(t, c1, ns, "mixed", corev1.ServiceAffinityNone, ips("10.152", 1), port("pg", 5432))
	s.faultExport(t, c2, ns, "mixed", corev1.ServiceAffinityNone, ips("10.153", 2), port("pg", 5432), port("metrics", 9187))
	s.faultExport(t, c1, metav1.NamespaceSystem, "leak", corev1.ServiceAffinityNone, ips("10.154", 1), httpPort)
	headless := service(ns, "db", corev1.ServiceTypeClusterIP, port("pg", 5432))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	s.createService(t, c3, headless)
	s.createSlice(t, c3, ns, "db", "db-src", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("pg", 5432)}, ips("10.155", 2))
	s.export(t, c3, ns, "db")

	condition := func(ns, name, typ, status, reason string) string {
		return fmt.Sprintf(`cluster=cluster-1,condition=%s,name=%s,namespace=%s,reason=%s,status=%s`, typ, name, ns, reason, status)
	}
	valid := func(name string) []string {
		return []string{condition(ns, name, "Valid", "True", "Valid"), condition(ns, name, "Ready", "True", "Exported")}
	}
	// Only cluster-1's exports: in pull mode the other syncers own the other statuses.
	wantConditions := slices.Concat(valid("web"), valid("mixed"), []string{
		condition(ns, "web", "Conflict", "False", "NoConflicts"),
		condition(ns, "mixed", "Conflict", "True", "PortConflict"),
		condition(metav1.NamespaceSystem, "leak", "Valid", "False", "NamespaceNotAllowed"),
		condition(metav1.NamespaceSystem, "leak", "Conflict", "False", "NoConflicts"),
		condition(metav1.NamespaceSystem, "leak", "Ready", "False", "Failed"),
	})
	state := map[string]float64{
		`serviceimports{cluster=cluster-1,type=ClusterSetIP}`:                 2,
		`serviceimports{cluster=cluster-1,type=Headless}`:                     1,
		`endpoints_mirrored{cluster=cluster-1,source=cluster-1}`:              4,
		`endpoints_mirrored_ready{cluster=cluster-1,source=cluster-1}`:        3,
		`endpoints_mirrored{cluster=cluster-1,source=cluster-2}`:              3,
		`endpoints_mirrored_ready{cluster=cluster-1,source=cluster-2}`:        3,
		`endpoints_mirrored{cluster=cluster-1,source=cluster-3}`:              2,
		`endpoints_mirrored_ready{cluster=cluster-1,source=cluster-3}`:        2,
		`exports_refused_total{cluster=cluster-1,reason=NamespaceNotAllowed}`: 1,
		`members_stale{}`: 0,
	}
	for _, id := range []string{"cluster-1", "cluster-2", "cluster-3"} {
		state[`member_up{member=`+id+`}`] = 1
		state[`member_stale{member=`+id+`}`] = 0
	}
	var families map[string]*dto.MetricFamily
	scrapeUntil := func(what string, check func() error) {
		t.Helper()
		eventually(t, what, func() error {
			var err error
			if families, err = harness.Scrape(url); err != nil {
				return err
			}
			return check()
		})
	}
	checkState := func() error {
		if got := seriesOf(families, "serviceexport_condition"); !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(slices.Values(wantConditions))) {
			return fmt.Errorf("export conditions\n%s\nwant\n%s", strings.Join(slices.Sorted(maps.Keys(got)), "\n"), strings.Join(slices.Sorted(slices.Values(wantConditions)), "\n"))
		}
		return expectSeries(families, state)
	}
	scrapeUntil("the state metrics of the scenario", checkState)

	// The queues: the reconcile queue and the one lane of a pull-mode syncer, cluster-1.
	for _, family := range []string{"workqueue_adds_total", "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds"} {
		got := seriesOf(families, family)
		if want := []string{"name=" + metrics.ReconcileQueue, "name=cluster-1"}; !slices.Equal(slices.Sorted(maps.Keys(got)), want) {
			t.Errorf("%s series %v, want %v", family, slices.Sorted(maps.Keys(got)), want)
		}
		for labels, v := range got {
			if v == 0 {
				t.Errorf("%s{%s} = 0", family, labels)
			}
		}
	}
	for _, family := range []string{"workqueue_depth", "workqueue_retries_total", "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds"} {
		if got := seriesOf(families, family); len(got) != 2 {
			t.Errorf("%s series %v, want the two queues", family, slices.Sorted(maps.Keys(got)))
		}
	}
	if err := expectNonzero(families, "sync_duration_seconds", "lane="+metrics.ReconcileQueue, "lane=cluster-1"); err != nil {
		t.Error(err)
	}
	// The API clients, per cluster: reads and watches of all three, writes into cluster-1.
	for _, id := range []string{"cluster-1", "cluster-2", "cluster-3"} {
		if err := expectNonzero(families, "rest_client_requests_total", "cluster="+id+",code=200,verb=GET"); err != nil {
			t.Error(err)
		}
		if err := expectNonzero(families, "rest_client_request_duration_seconds", "cluster="+id+",code=200,verb=GET"); err != nil {
			t.Error(err)
		}
		if err := expectNonzero(families, "rest_client_rate_limiter_duration_seconds", "cluster="+id); err != nil {
			t.Error(err)
		}
		if !hasSeries(families, "rest_client_requests_total", "cluster="+id, "verb="+metrics.VerbWatch) {
			t.Errorf("no watch of %s counted", id)
		}
	}
	if err := expectNonzero(families, "rest_client_requests_total", "cluster=cluster-1,code=201,verb=POST"); err != nil {
		t.Error(err)
	}
	if hasSeries(families, "rest_client_request_duration_seconds", "verb="+metrics.VerbWatch) {
		t.Error("watches are timed in rest_client_request_duration_seconds")
	}

	// An unexported export leaves the metrics; the import stays, cluster-2 still exports it.
	s.unexport(t, c1, ns, "mixed")
	wantConditions = slices.DeleteFunc(wantConditions, func(c string) bool { return strings.Contains(c, "name=mixed,") })
	state[`endpoints_mirrored{cluster=cluster-1,source=cluster-1}`] = 3
	state[`endpoints_mirrored_ready{cluster=cluster-1,source=cluster-1}`] = 2
	scrapeUntil("the unexport in the metrics", checkState)

	// cluster-3 stops answering: down, then stale (its endpoints withdrawn), and back.
	errorsBefore := sumSeries(families, "rest_client_requests_total", "cluster=cluster-3", "code="+metrics.CodeError)
	resume := s.faultBlackhole(t, c3.ID)
	state[`member_up{member=cluster-3}`] = 0
	state[`member_stale{member=cluster-3}`] = 1
	state[`members_stale{}`] = 1
	delete(state, `endpoints_mirrored{cluster=cluster-1,source=cluster-3}`)
	delete(state, `endpoints_mirrored_ready{cluster=cluster-1,source=cluster-3}`)
	scrapeUntil("cluster-3 down and stale", func() error {
		if err := checkState(); err != nil {
			return err
		}
		if mirrored := sumSeries(families, "endpoints_mirrored", "cluster=cluster-1", "source=cluster-3"); mirrored != 0 {
			return fmt.Errorf("%v endpoints of the stale cluster-3 still mirrored", mirrored)
		}
		if n := sumSeries(families, "rest_client_requests_total", "cluster=cluster-3", "code="+metrics.CodeError); n <= errorsBefore {
			return fmt.Errorf("no failed request to cluster-3 counted (%v before, %v now)", errorsBefore, n)
		}
		return nil
	})
	resume()
	state[`member_up{member=cluster-3}`] = 1
	state[`member_stale{member=cluster-3}`] = 0
	state[`members_stale{}`] = 0
	state[`endpoints_mirrored{cluster=cluster-1,source=cluster-3}`] = 2
	state[`endpoints_mirrored_ready{cluster=cluster-1,source=cluster-3}`] = 2
	scrapeUntil("cluster-3 back", checkState)
}

// TestMetricsHub: a hub syncer reports the conditions of every member's exports, under the
// cluster each lives in, and has one lane per member.
func TestMetricsHub(t *testing.T) {
	s := newSuite(t, app.ModeHub, false)
	c2, c3 := s.cluster("cluster-2"), s.cluster("cluster-3")
	url := s.serveMetrics(t, s.cluster("cluster-1"))
	const ns = "metrics"
	s.namespace(t, ns)
	s.faultExport(t, c2, ns, "web", corev1.ServiceAffinityNone, ips("10.156", 2), port("http", 80))
	s.faultExport(t, c3, ns, "web", corev1.ServiceAffinityNone, ips("10.157", 1), port("http", 80))
	want := map[string]float64{}
	for _, id := range []string{"cluster-1", "cluster-2", "cluster-3"} {
		want[`serviceimports{cluster=`+id+`,type=ClusterSetIP}`] = 1
		want[`endpoints_mirrored{cluster=`+id+`,source=cluster-2}`] = 2
		want[`endpoints_mirrored{cluster=`+id+`,source=cluster-3}`] = 1
		want[`member_up{member=`+id+`}`] = 1
	}
	for _, id := range []string{"cluster-2", "cluster-3"} {
		for _, c := range [][3]string{{"Valid", "True", "Valid"}, {"Conflict", "False", "NoConflicts"}, {"Ready", "True", "Exported"}} {
			want[fmt.Sprintf(`serviceexport_condition{cluster=%s,condition=%s,name=web,namespace=%s,reason=%s,status=%s}`, id, c[0], ns, c[2], c[1])] = 1
		}
	}
	eventually(t, "the hub's state metrics", func() error {
		families, err := harness.Scrape(url)
		if err != nil {
			return err
		}
		if err := expectSeries(families, want); err != nil {
			return err
		}
		lanes := slices.Sorted(maps.Keys(seriesOf(families, "workqueue_adds_total")))
		if wantLanes := []string{"name=" + metrics.ReconcileQueue, "name=cluster-1", "name=cluster-2", "name=cluster-3"}; !slices.Equal(lanes, wantLanes) {
			return fmt.Errorf("queues %v, want %v", lanes, wantLanes)
		}
		return expectNonzero(families, "rest_client_requests_total",
			"cluster=cluster-2,code=201,verb=POST", "cluster=cluster-3,code=201,verb=POST", "cluster=cluster-2,code=200,verb=PUT")
	})
}

// serveMetrics restarts the syncer of c serving /metrics on a free loopback port, and
// returns its URL.
func (s *suite) serveMetrics(t *testing.T, c *harness.Cluster) string {
	ports, err := proc.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	s.stopSyncer(t, c.ID)
	o := s.options(c)
	o.MetricsBindAddress = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.syncers[c.ID] = harness.StartInProcess(s.ctx, o)
	return "http://" + o.MetricsBindAddress + "/metrics"
}

// seriesOf returns the series of clusterset_syncer_<family> by their labels ("a=x,b=y",
// sorted by name), each with its value (a histogram's sample count).
func seriesOf(families map[string]*dto.MetricFamily, family string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range families[metrics.Namespace+"_"+family].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(labels)
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue() + float64(m.GetHistogram().GetSampleCount())
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// expectSeries checks series written `family{a=x,b=y}` (labels sorted) for their values.
func expectSeries(families map[string]*dto.MetricFamily, want map[string]float64) error {
	var problems []string
	for _, key := range slices.Sorted(maps.Keys(want)) {
		family, labels, _ := strings.Cut(strings.TrimSuffix(key, "}"), "{")
		got, ok := seriesOf(families, family)[labels]
		if !ok || got != want[key] {
			problems = append(problems, fmt.Sprintf("%s = %v (present: %v), want %v", key, got, ok, want[key]))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// expectNonzero checks that each of the series (labels as seriesOf prints them) is present
// and not zero.
func expectNonzero(families map[string]*dto.MetricFamily, family string, labels ...string) error {
	got := seriesOf(families, family)
	for _, l := range labels {
		if got[l] == 0 {
			return fmt.Errorf("%s{%s} = 0 or missing; series: %v", family, l, slices.Sorted(maps.Keys(got)))
		}
	}
	return nil
}

// sumSeries sums the series of a family that carry every one of the labels ("a=x").
func sumSeries(families map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	sum := 0.0
	for key, v := range seriesOf(families, family) {
		if hasLabels(key, labels) {
			sum += v
		}
	}
	return sum
}

// hasSeries reports whether some series of a family carries every one of the labels.
func hasSeries(families map[string]*dto.MetricFamily, family string, labels ...string) bool {
	for key := range seriesOf(families, family) {
		if hasLabels(key, labels) {
			return true
		}
	}
	return false
}

func hasLabels(key string, labels []string) bool {
	have := strings.Split(key, ",")
	for _, l := range labels {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}
