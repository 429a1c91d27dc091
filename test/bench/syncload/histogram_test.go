package syncload

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"
)

func series(labels map[string]string, sum float64, bounds []float64, cumulative ...uint64) *dto.Metric {
	h := &dto.Histogram{SampleSum: ptr.To(sum), SampleCount: ptr.To(cumulative[len(cumulative)-1])}
	for i, b := range bounds {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: ptr.To(b), CumulativeCount: ptr.To(cumulative[i])})
	}
	h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: ptr.To(math.Inf(1)), CumulativeCount: ptr.To(cumulative[len(cumulative)-1])})
	m := &dto.Metric{Histogram: h}
	for k, v := range labels {
		m.Label = append(m.Label, &dto.LabelPair{Name: ptr.To(k), Value: ptr.To(v)})
	}
	return m
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.01, 0.1, 1}
	for _, tc := range []struct {
		name       string
		cumulative []uint64 // per bound, then the total
		q, want    float64
	}{
		{"median in the first bucket interpolates from 0", []uint64{10, 10, 10, 10}, 0.5, 0.005},
		{"median in the second bucket", []uint64{0, 10, 10, 10}, 0.5, 0.055},
		{"p99 at the top of a bucket", []uint64{50, 100, 100, 100}, 0.99, 0.01 + 0.09*(99.0-50)/50},
		{"rank beyond the last bound gives the last bound", []uint64{0, 0, 1, 10}, 0.99, 1},
		{"empty", []uint64{0, 0, 0, 0}, 0.5, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := HistogramOf(&dto.MetricFamily{Metric: []*dto.Metric{series(nil, 0, bounds, tc.cumulative...)}}, nil)
			if !ok {
				t.Fatal("no histogram")
			}
			got := h.Quantile(tc.q)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistogramDeltaOverMatchingSeries(t *testing.T) {
	bounds := []float64{0.01, 0.1}
	before := &dto.MetricFamily{Metric: []*dto.Metric{
		series(map[string]string{"verb": "POST"}, 1, bounds, 5, 8, 10),
		series(map[string]string{"verb": "GET"}, 9, bounds, 0, 0, 100),
	}}
	after := &dto.MetricFamily{Metric: []*dto.Metric{
		series(map[string]string{"verb": "POST"}, 1.5, bounds, 5, 18, 20),
		series(map[string]string{"verb": "GET"}, 90, bounds, 0, 0, 1000),
	}}
	post := func(l map[string]string) bool { return l["verb"] == "POST" }
	h0, _ := HistogramOf(before, post)
	h1, _ := HistogramOf(after, post)
	d, same := h1.Minus(h0)
	if !same {
		t.Fatal("same bounds reported as different")
	}
	if d.Count != 10 || d.Cumulative[0] != 0 || d.Cumulative[1] != 10 || math.Abs(d.Sum-0.5) > 1e-9 {
		t.Errorf("delta = %+v, want 10 observations, all in (0.01, 0.1], sum 0.5", d)
	}
	if got := d.Mean(); math.Abs(got-0.05) > 1e-9 {
		t.Errorf("Mean = %v, want 0.05", got)
	}
	all, _ := SumHistograms([]map[string]*dto.MetricFamily{{"x": before}, {"x": after}}, "x", nil)
	if all.Count != 10+100+20+1000 {
		t.Errorf("SumHistograms count = %d, want 1130", all.Count)
	}
	if _, same := h1.Minus(Histogram{Bounds: []float64{1}, Cumulative: []uint64{1}, Count: 1}); same {
		t.Error("different bounds reported as the same")
	}
}
