package syncload

import (
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// Histogram is a Prometheus histogram summed over series: cumulative counts per upper bound
// (the +Inf bucket is Count), the sum and the count of observations.
type Histogram struct {
	Bounds     []float64
	Cumulative []uint64
	Sum        float64
	Count      uint64
}

// HistogramOf sums the series of family f whose labels satisfy match (nil: all). Series with
// other bucket bounds than the first are left out; ok is false when no series was summed.
func HistogramOf(f *dto.MetricFamily, match func(labels map[string]string) bool) (h Histogram, ok bool) {
	if f == nil {
		return h, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetHistogram() == nil || (match != nil && !match(labels)) {
			continue
		}
		var s Histogram
		for _, b := range m.GetHistogram().GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				s.Bounds = append(s.Bounds, b.GetUpperBound())
				s.Cumulative = append(s.Cumulative, b.GetCumulativeCount())
			}
		}
		s.Sum, s.Count = m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
		if !ok {
			h, ok = s, true
			continue
		}
		if sum, same := h.Plus(s); same {
			h = sum
		}
	}
	return h, ok
}

// Plus adds o to h; same is false (and h is returned) when their bounds differ.
func (h Histogram) Plus(o Histogram) (sum Histogram, same bool) {
	return h.combine(o, 1)
}

// Minus is h less an earlier snapshot o of the same series: the observations in between.
func (h Histogram) Minus(o Histogram) (diff Histogram, same bool) {
	return h.combine(o, -1)
}

func (h Histogram) combine(o Histogram, sign int) (Histogram, bool) {
	if o.Count == 0 && len(o.Bounds) == 0 {
		return h, true
	}
	if !slices.Equal(h.Bounds, o.Bounds) {
		return h, false
	}
	out := Histogram{Bounds: h.Bounds, Cumulative: make([]uint64, len(h.Cumulative))}
	apply := func(a, b uint64) uint64 {
		if sign > 0 {
			return a + b
		}
		return a - b
	}
	for i := range h.Cumulative {
		out.Cumulative[i] = apply(h.Cumulative[i], o.Cumulative[i])
	}
	out.Count = apply(h.Count, o.Count)
	out.Sum = h.Sum + float64(sign)*o.Sum
	return out, true
}

// Quantile estimates the q-quantile (0..1) as Prometheus' histogram_quantile does: linear
// interpolation inside the bucket that holds the rank, from 0 for the first bucket. A rank in
// the +Inf bucket gives the highest finite bound (a lower bound of the truth). NaN when empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for i, bound := range h.Bounds {
		if float64(h.Cumulative[i]) >= rank {
			inBucket := h.Cumulative[i] - below
			if inBucket == 0 {
				return bound
			}
			return lower + (bound-lower)*(rank-float64(below))/float64(inBucket)
		}
		lower, below = bound, h.Cumulative[i]
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Mean is the mean observation; NaN when empty.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / float64(h.Count)
}

// SumHistograms sums the histogram name over several syncers' scrapes; ok is false when no
// scrape has it.
func SumHistograms(scrapes []map[string]*dto.MetricFamily, name string, match func(labels map[string]string) bool) (sum Histogram, ok bool) {
	for _, families := range scrapes {
		h, found := HistogramOf(families[name], match)
		if !found {
			continue
		}
		if !ok {
			sum, ok = h, true
		} else if s, same := sum.Plus(h); same {
			sum = s
		}
	}
	return sum, ok
}
