package desired

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func TestReadyCondition(t *testing.T) {
	valid := exportCondition(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionTrue, mcsv1alpha1.ServiceExportReasonValid, "ok", 4)
	noService := exportCondition(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonNoService, "no Service", 4)
	externalName := exportCondition(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonInvalidServiceType, "ExternalName", 4)
	tests := []struct {
		name       string
		valid      metav1.Condition
		published  bool
		err        error
		wantStatus metav1.ConditionStatus
		wantReason mcsv1alpha1.ServiceExportConditionReason
	}{
		{"exported", valid, true, nil, metav1.ConditionTrue, mcsv1alpha1.ServiceExportReasonExported},
		{"being written", valid, false, nil, metav1.ConditionUnknown, mcsv1alpha1.ServiceExportReasonPending},
		{"write failed", valid, false, errors.New("forbidden"), metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonFailed},
		{"no Service yet", noService, false, nil, metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonPending},
		{"ExternalName", externalName, false, nil, metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ReadyCondition(tt.valid, tt.published, tt.err)
			if c.Type != string(mcsv1alpha1.ServiceExportConditionReady) || c.Status != tt.wantStatus ||
				c.Reason != string(tt.wantReason) || c.ObservedGeneration != 4 || c.Message == "" {
				t.Errorf("ReadyCondition = %+v, want %s/%s at generation 4 with a message", c, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestSetConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Hour))
	cond := func(typ mcsv1alpha1.ServiceExportConditionType, status metav1.ConditionStatus, reason, msg string, at metav1.Time) metav1.Condition {
		c := exportCondition(typ, status, mcsv1alpha1.ServiceExportConditionReason(reason), msg, 1)
		c.LastTransitionTime = at
		return c
	}
	var none metav1.Time
	existing := []metav1.Condition{
		cond("Valid", metav1.ConditionTrue, "Valid", "ok", t0),
		cond("Conflict", metav1.ConditionFalse, "NoConflicts", "none", t0),
	}
	tests := []struct {
		name        string
		desired     []metav1.Condition
		want        []metav1.Condition
		wantChanged bool
	}{
		{"same again: no change, times kept",
			[]metav1.Condition{cond("Valid", metav1.ConditionTrue, "Valid", "ok", none), cond("Conflict", metav1.ConditionFalse, "NoConflicts", "none", none)},
			existing, false},
		{"message changes, status does not: time kept",
			[]metav1.Condition{cond("Valid", metav1.ConditionTrue, "Valid", "still ok", none)},
			[]metav1.Condition{cond("Valid", metav1.ConditionTrue, "Valid", "still ok", t0), existing[1]}, true},
		{"status flips: new time",
			[]metav1.Condition{cond("Conflict", metav1.ConditionTrue, "PortConflict", "ports", none)},
			[]metav1.Condition{existing[0], cond("Conflict", metav1.ConditionTrue, "PortConflict", "ports", t1)}, true},
		{"new type appended with now",
			[]metav1.Condition{cond("Ready", metav1.ConditionUnknown, "Pending", "wait", none)},
			append(existing[:2:2], cond("Ready", metav1.ConditionUnknown, "Pending", "wait", t1)), true},
		{"a given transition time is kept",
			[]metav1.Condition{cond("Ready", metav1.ConditionTrue, "Exported", "done", t0)},
			append(existing[:2:2], cond("Ready", metav1.ConditionTrue, "Exported", "done", t0)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]metav1.Condition(nil), existing...)
			got, changed := SetConditions(existing, tt.desired, t1)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !got[i].LastTransitionTime.Equal(&tt.want[i].LastTransitionTime) || got[i].Status != tt.want[i].Status ||
					got[i].Reason != tt.want[i].Reason || got[i].Message != tt.want[i].Message {
					t.Errorf("condition %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			for i := range existing {
				if existing[i] != before[i] {
					t.Errorf("existing conditions were modified")
				}
			}
		})
	}
}
