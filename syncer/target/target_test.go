package target

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestIsNamespaceTerminating(t *testing.T) {
	// What the apiserver's NamespaceLifecycle admission returns.
	terminating := apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "s",
		errors.New("unable to create new content in namespace x because it is being terminated"))
	terminating.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "metadata.namespace"}}
	quota := apierrors.NewForbidden(schema.GroupResource{Resource: "endpointslices"}, "s", errors.New("exceeded quota: q"))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"terminating", terminating, true},
		{"terminating among joined errors", errors.Join(quota, fmt.Errorf("EndpointSlice s: %w", terminating)), true},
		{"another Forbidden", quota, false},
		{"joined without it", errors.Join(quota, errors.New("boom")), false},
	}
	for _, tt := range tests {
		if got := isNamespaceTerminating(tt.err); got != tt.want {
			t.Errorf("%s: isNamespaceTerminating = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHostPrefixes(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.96.0.1", "fd00::1", "None"}}}
	got := hostPrefixes(svc)
	if len(got) != 2 || got[0].String() != "10.96.0.1/32" || got[1].String() != "fd00::1/128" {
		t.Errorf("hostPrefixes = %v, want [10.96.0.1/32 fd00::1/128]", got)
	}
	if hostPrefixes(nil) != nil {
		t.Errorf("hostPrefixes(nil) not nil")
	}
}
