package desired

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// exportCondition builds a ServiceExport condition without a transition time;
// SetConditions stamps it only when the status really changes.
func exportCondition(t mcsv1alpha1.ServiceExportConditionType, status metav1.ConditionStatus,
	reason mcsv1alpha1.ServiceExportConditionReason, message string, generation int64) metav1.Condition {
	return metav1.Condition{
		Type:               string(t),
		Status:             status,
		Reason:             string(reason),
		Message:            message,
		ObservedGeneration: generation,
	}
}

// ReadyCondition is an export's Ready condition, given its Valid condition
// (from Merge) and how far the controller got in writing the service's derived
// objects into its target cluster(s):
//   - invalid: False, reason Pending for a missing Service (it may still
//     appear), else Failed (an ExternalName Service or invalid exported
//     labels or annotations will not change by waiting);
//   - publishErr set: False, Failed, with the error;
//   - not yet published: Unknown, Pending;
//   - published: True, Exported.
func ReadyCondition(valid metav1.Condition, published bool, publishErr error) metav1.Condition {
	c := exportCondition(mcsv1alpha1.ServiceExportConditionReady, metav1.ConditionTrue, mcsv1alpha1.ServiceExportReasonExported,
		"the service is exported", valid.ObservedGeneration)
	switch {
	case valid.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(mcsv1alpha1.ServiceExportReasonPending), "the export is not valid: "+valid.Message
		if valid.Reason != string(mcsv1alpha1.ServiceExportReasonNoService) {
			c.Reason = string(mcsv1alpha1.ServiceExportReasonFailed)
		}
	case publishErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(mcsv1alpha1.ServiceExportReasonFailed), "writing the derived objects failed: "+publishErr.Error()
	case !published:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, string(mcsv1alpha1.ServiceExportReasonPending), "the derived objects are being written"
	}
	return c
}

// SetConditions returns a copy of existing with every desired condition set
// with meta.SetStatusCondition semantics, and whether anything changed. A
// condition whose status is unchanged keeps its lastTransitionTime, so setting
// the same conditions again changes nothing (and needs no status write); a
// new or flipped condition gets now unless it carries its own time.
func SetConditions(existing, desired []metav1.Condition, now metav1.Time) ([]metav1.Condition, bool) {
	out := slices.Clone(existing) // Condition holds no pointers: this is a deep copy
	changed := false
	for _, c := range desired {
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		if meta.SetStatusCondition(&out, c) {
			changed = true
		}
	}
	return out, changed
}
