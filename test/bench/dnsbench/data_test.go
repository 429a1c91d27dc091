package main

import (
	"testing"

	"github.com/clusterset/clusterset/syncer/desired"
)

func TestDatasetNamesHaveDistinctDerivedNames(t *testing.T) {
	d := newDataset(1000, 2, 5)
	seen := map[string]string{}
	for i := range d.services {
		derived := desired.DerivedServiceName(d.serviceName(i))
		if other, ok := seen[derived]; ok {
			t.Fatalf("%s and %s share %s", other, d.serviceName(i), derived)
		}
		seen[derived] = d.serviceName(i)
	}
	if len(d.queries()) != 1000+500+100 {
		t.Errorf("%d queries", len(d.queries()))
	}
}
