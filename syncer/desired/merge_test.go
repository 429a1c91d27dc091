package desired

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func TestTypeConversion(t *testing.T) {
	tests := []struct {
		name       string
		svc        *corev1.Service
		wantType   mcsv1alpha1.ServiceImportType // "" when nothing is imported
		wantReason mcsv1alpha1.ServiceExportConditionReason
	}{
		{"ClusterIP", newService(), mcsv1alpha1.ClusterSetIP, mcsv1alpha1.ServiceExportReasonValid},
		{"NodePort", newService(withType(corev1.ServiceTypeNodePort)), mcsv1alpha1.ClusterSetIP, mcsv1alpha1.ServiceExportReasonValid},
		{"LoadBalancer", newService(withType(corev1.ServiceTypeLoadBalancer)), mcsv1alpha1.ClusterSetIP, mcsv1alpha1.ServiceExportReasonValid},
		{"unset type", newService(withType("")), mcsv1alpha1.ClusterSetIP, mcsv1alpha1.ServiceExportReasonValid},
		{"headless", newService(headless()), mcsv1alpha1.Headless, mcsv1alpha1.ServiceExportReasonValid},
		{"ExternalName", newService(withType(corev1.ServiceTypeExternalName), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.ExternalName = "", nil, "example.com"
		}), "", mcsv1alpha1.ServiceExportReasonInvalidServiceType},
		{"missing Service", nil, "", mcsv1alpha1.ServiceExportReasonNoService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, conds := Merge("default", "web", []ClusterExport{clusterExport("cluster-1", 0, tt.svc)})
			valid := conditionOf(conds["cluster-1"], mcsv1alpha1.ServiceExportConditionValid)
			if valid.Reason != string(tt.wantReason) {
				t.Errorf("Valid reason = %q, want %q", valid.Reason, tt.wantReason)
			}
			wantStatus := metav1.ConditionFalse
			if tt.wantType != "" {
				wantStatus = metav1.ConditionTrue
			}
			if valid.Status != wantStatus || valid.ObservedGeneration != 3 {
				t.Errorf("Valid = %+v, want status %s at generation 3", valid, wantStatus)
			}
			if conflict := conditionOf(conds["cluster-1"], mcsv1alpha1.ServiceExportConditionConflict); conflict.Status != metav1.ConditionFalse ||
				conflict.Reason != string(mcsv1alpha1.ServiceExportReasonNoConflicts) {
				t.Errorf("Conflict = %+v, want False/NoConflicts", conflict)
			}
			switch {
			case tt.wantType == "" && s != nil:
				t.Errorf("Merge = %+v, want no service", s)
			case tt.wantType != "" && (s == nil || s.Type != tt.wantType):
				t.Errorf("Merge = %+v, want type %s", s, tt.wantType)
			}
		})
	}
}

func TestMergePrecedence(t *testing.T) {
	tests := []struct {
		name       string
		exports    []ClusterExport
		wantWinner string
		wantType   mcsv1alpha1.ServiceImportType
	}{
		{"oldest export wins", []ClusterExport{
			clusterExport("cluster-a", 5, newService(headless())),
			clusterExport("cluster-b", 1, newService()),
		}, "cluster-b", mcsv1alpha1.ClusterSetIP},
		{"same age: smaller cluster ID wins", []ClusterExport{
			clusterExport("cluster-b", 1, newService()),
			clusterExport("cluster-a", 1, newService(headless())),
		}, "cluster-a", mcsv1alpha1.Headless},
		{"withdrawn export still wins", []ClusterExport{
			clusterExport("cluster-a", 0, newService(headless()), withdrawn()),
			clusterExport("cluster-b", 1, newService()),
		}, "cluster-a", mcsv1alpha1.Headless},
		{"export without Service does not take part", []ClusterExport{
			clusterExport("cluster-a", 0, nil),
			clusterExport("cluster-b", 1, newService(headless())),
		}, "cluster-b", mcsv1alpha1.Headless},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Merge("default", "web", tt.exports)
			if s.Winner != tt.wantWinner || s.Type != tt.wantType {
				t.Errorf("winner %s type %s, want %s %s", s.Winner, s.Type, tt.wantWinner, tt.wantType)
			}
		})
	}
}

func TestMergeClustersAndValidity(t *testing.T) {
	s, conds := Merge("default", "web", []ClusterExport{
		clusterExport("cluster-3", 0, newService(), withdrawn()),
		clusterExport("cluster-1", 1, newService()),
		clusterExport("cluster-2", 2, nil),
		clusterExport("cluster-4", 3, newService(withType(corev1.ServiceTypeExternalName))),
	})
	if got, want := strings.Join(s.Clusters, ","), "cluster-1,cluster-3"; got != want {
		t.Errorf("Clusters = %s, want %s", got, want)
	}
	wantValid := map[string]string{"cluster-1": "Valid", "cluster-2": "NoService", "cluster-3": "Valid", "cluster-4": "InvalidServiceType"}
	for id, reason := range wantValid {
		if got := conditionOf(conds[id], mcsv1alpha1.ServiceExportConditionValid).Reason; got != reason {
			t.Errorf("%s: Valid reason %s, want %s", id, got, reason)
		}
	}
	if len(conds) != len(wantValid) {
		t.Errorf("conditions for %d clusters, want %d", len(conds), len(wantValid))
	}
	if s2, _ := Merge("default", "web", []ClusterExport{clusterExport("cluster-2", 2, nil)}); s2 != nil {
		t.Errorf("Merge without a valid export = %+v, want nil", s2)
	}
}

// TestMergeInvalidExportedMetadata: exported labels or annotations the apiserver would
// refuse on the ServiceImport make the export Valid=False, naming the key, and keep it out of
// the merge, rather than a ServiceImport write failing forever.
func TestMergeInvalidExportedMetadata(t *testing.T) {
	long := strings.Repeat("v", 64)
	tests := []struct {
		name       string
		opts       []exportOpt
		wantReason string // "" when valid
		wantInMsg  []string
	}{
		{"valid", []exportOpt{exportedLabels(map[string]string{"tier": "web", "example.com/team": "a"}),
			exportedAnnotations(map[string]string{"example.com/note": "any text: allowed"})}, "", nil},
		{"label key with a space", []exportOpt{exportedLabels(map[string]string{"bad key": "x"})},
			"InvalidExportedLabels", []string{"spec.exportedLabels", "bad key"}},
		{"label value too long", []exportOpt{exportedLabels(map[string]string{"tier": long})},
			"InvalidExportedLabels", []string{"spec.exportedLabels", "tier"}},
		{"label value with a slash", []exportOpt{exportedLabels(map[string]string{"tier": "a/b"})},
			"InvalidExportedLabels", []string{"a/b"}},
		{"annotation key with two slashes", []exportOpt{exportedAnnotations(map[string]string{"a/b/c": "x"})},
			"InvalidExportedAnnotations", []string{"spec.exportedAnnotations", "a/b/c"}},
		{"annotations too large in total", []exportOpt{exportedAnnotations(map[string]string{"big": strings.Repeat("x", 256*1024+1)})},
			"InvalidExportedAnnotations", []string{"spec.exportedAnnotations[big]", "Too long"}},
		{"annotations too large only together", []exportOpt{exportedAnnotations(map[string]string{
			"a": strings.Repeat("x", 200*1024), "b": strings.Repeat("x", 200*1024)})},
			"InvalidExportedAnnotations", []string{"spec.exportedAnnotations: Too long"}},
		{"both", []exportOpt{exportedLabels(map[string]string{"-bad": "x"}), exportedAnnotations(map[string]string{"/": "x"})},
			"InvalidExportedLabels,InvalidExportedAnnotations", []string{"-bad", "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, conds := Merge("default", "web", []ClusterExport{
				clusterExport("cluster-1", 0, newService(), tt.opts...),
				clusterExport("cluster-2", 1, newService()),
			})
			valid := conditionOf(conds["cluster-1"], mcsv1alpha1.ServiceExportConditionValid)
			if tt.wantReason == "" {
				if valid.Status != metav1.ConditionTrue || len(s.Clusters) != 2 {
					t.Errorf("Valid = %+v, clusters %v; want True and both clusters", valid, s.Clusters)
				}
				return
			}
			if valid.Status != metav1.ConditionFalse || valid.Reason != tt.wantReason {
				t.Errorf("Valid = %s/%s, want False/%s", valid.Status, valid.Reason, tt.wantReason)
			}
			for _, part := range tt.wantInMsg {
				if !strings.Contains(valid.Message, part) {
					t.Errorf("Valid message %q does not name %q", valid.Message, part)
				}
			}
			if len(valid.Message) > maxConditionMessage {
				t.Errorf("Valid message of %d bytes", len(valid.Message))
			}
			if !slices.Equal(s.Clusters, []string{"cluster-2"}) || s.Winner != "cluster-2" {
				t.Errorf("merged clusters %v winner %s, want only cluster-2", s.Clusters, s.Winner)
			}
			ready := ReadyCondition(valid, false, nil)
			if ready.Status != metav1.ConditionFalse || ready.Reason != string(mcsv1alpha1.ServiceExportReasonFailed) {
				t.Errorf("Ready = %s/%s, want False/Failed: waiting will not fix it", ready.Status, ready.Reason)
			}
		})
	}
}

func TestMergeConflicts(t *testing.T) {
	labels := func(v string) exportOpt { return exportedLabels(map[string]string{"tier": v}) }
	tests := []struct {
		name   string
		older  ClusterExport // cluster-1, the winner
		newer  ClusterExport // cluster-2
		reason string
		// message parts that must appear, in order
		message []string
	}{
		{"identical", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService()),
			"NoConflicts", nil},
		{"type", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(headless())),
			"TypeConflict", []string{"type: cluster-2 has Headless; using ClusterSetIP from cluster-1 (oldest export)"}},
		{"ports", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(withPorts(port("http", "TCP", 8080)))),
			"PortConflict", []string{"ports: those of cluster-2 differ from those of cluster-1 (oldest export)", `cluster-2's "http" TCP/8080 conflicts with "http" TCP/80 from cluster-1, which wins`}},
		{"session affinity", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(clientIP(60))),
			"SessionAffinityConflict", []string{"sessionAffinity: cluster-2 has ClientIP; using None from cluster-1 (oldest export)"}},
		{"session affinity config", clusterExport("cluster-1", 0, newService(clientIP(60))), clusterExport("cluster-2", 1, newService(clientIP(90))),
			"SessionAffinityConfigConflict", []string{"sessionAffinityConfig: cluster-2 has clientIP.timeoutSeconds=90; using clientIP.timeoutSeconds=60 from cluster-1"}},
		{"defaulted affinity config is no conflict", clusterExport("cluster-1", 0, newService(clientIP(corev1.DefaultClientIPServiceAffinitySeconds))),
			clusterExport("cluster-2", 1, newService(func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP })),
			"NoConflicts", nil},
		{"internal traffic policy", clusterExport("cluster-1", 0, newService()),
			clusterExport("cluster-2", 1, newService(func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyLocal)
			})),
			"InternalTrafficPolicyConflict", []string{"internalTrafficPolicy: cluster-2 has Local; using Cluster from cluster-1"}},
		{"traffic distribution", clusterExport("cluster-1", 0, newService()),
			clusterExport("cluster-2", 1, newService(func(s *corev1.Service) { s.Spec.TrafficDistribution = ptrTo("PreferClose") })),
			"TrafficDistributionConflict", []string{"trafficDistribution: cluster-2 has PreferClose; using unset from cluster-1"}},
		{"labels", clusterExport("cluster-1", 0, newService(), labels("web")), clusterExport("cluster-2", 1, newService(), labels("db")),
			"LabelsConflict", []string{"exportedLabels: cluster-2; using the value of cluster-1 (oldest export)"}},
		{"empty and nil labels agree", clusterExport("cluster-1", 0, newService(), exportedLabels(map[string]string{})), clusterExport("cluster-2", 1, newService()),
			"NoConflicts", nil},
		{"annotations", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(), exportedAnnotations(map[string]string{"a": "b"})),
			"AnnotationsConflict", []string{"exportedAnnotations: cluster-2; using the value of cluster-1"}},
		{"several, in mcs-api order", clusterExport("cluster-1", 0, newService(), labels("web")),
			clusterExport("cluster-2", 1, newService(headless(), clientIP(5), withPorts(port("dns", "UDP", 53))), labels("db"),
				exportedAnnotations(map[string]string{"a": "b"})),
			"PortConflict,TypeConflict,SessionAffinityConflict,AnnotationsConflict,LabelsConflict",
			[]string{"ports: ", "; type: ", "; sessionAffinity: ", "; exportedAnnotations: ", "; exportedLabels: "}},
		{"IPv4-only and IPv6-only", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(withFamilies(corev1.IPv6Protocol))),
			"IPFamilyConflict", []string{"ipFamilies: cluster-2 has IPv6, cluster-1 (oldest export) has IPv4; importing IPv4+IPv6"}},
		{"dual-stack and IPv4-only", clusterExport("cluster-1", 0, newService(withFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol))),
			clusterExport("cluster-2", 1, newService()),
			"IPFamilyConflict", []string{"ipFamilies: cluster-2 has IPv4, cluster-1 (oldest export) has IPv4+IPv6; importing IPv6+IPv4"}},
		{"same families in another order agree", clusterExport("cluster-1", 0, newService(withFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol))),
			clusterExport("cluster-2", 1, newService(withFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol))), "NoConflicts", nil},
		{"unknown families are no conflict", clusterExport("cluster-1", 0, newService()), clusterExport("cluster-2", 1, newService(withFamilies())),
			"NoConflicts", nil},
		{"ports and families, families last", clusterExport("cluster-1", 0, newService()),
			clusterExport("cluster-2", 1, newService(withFamilies(corev1.IPv6Protocol), withPorts(port("http", "TCP", 8080)))),
			"PortConflict,IPFamilyConflict", []string{"ports: ", "; ipFamilies: "}},
		{"newer export wins nothing", clusterExport("cluster-1", 1, newService(headless())), clusterExport("cluster-2", 0, newService()),
			"TypeConflict", []string{"type: cluster-1 has Headless; using ClusterSetIP from cluster-2 (oldest export)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conds := Merge("default", "web", []ClusterExport{tt.newer, tt.older})
			c1 := conditionOf(conds["cluster-1"], mcsv1alpha1.ServiceExportConditionConflict)
			c2 := conditionOf(conds["cluster-2"], mcsv1alpha1.ServiceExportConditionConflict)
			if c1 != c2 {
				t.Errorf("constituents disagree:\n%+v\n%+v", c1, c2)
			}
			wantStatus := metav1.ConditionTrue
			if tt.reason == "NoConflicts" {
				wantStatus = metav1.ConditionFalse
			}
			if c1.Status != wantStatus || c1.Reason != tt.reason {
				t.Fatalf("Conflict = %s/%s (%s), want %s/%s", c1.Status, c1.Reason, c1.Message, wantStatus, tt.reason)
			}
			rest := c1.Message
			for _, part := range tt.message {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Fatalf("message %q lacks %q (in order)", c1.Message, part)
				}
				rest = rest[i+len(part):]
			}
		})
	}
}

func TestMergePorts(t *testing.T) {
	tcp := corev1.ProtocolTCP
	tests := []struct {
		name     string
		ports    [][]corev1.ServicePort // per cluster, oldest first
		want     []mcsv1alpha1.ServicePort
		conflict bool
	}{
		{"identical",
			[][]corev1.ServicePort{{port("http", tcp, 80)}, {port("http", tcp, 80)}},
			[]mcsv1alpha1.ServicePort{{Name: "http", Protocol: tcp, Port: 80}}, false},
		{"disjoint names are united, sorted",
			[][]corev1.ServicePort{{port("metrics", tcp, 9090)}, {port("http", tcp, 80)}},
			[]mcsv1alpha1.ServicePort{{Name: "http", Protocol: tcp, Port: 80}, {Name: "metrics", Protocol: tcp, Port: 9090}}, true},
		{"same name, other number: older kept",
			[][]corev1.ServicePort{{port("http", tcp, 80)}, {port("http", tcp, 8080)}},
			[]mcsv1alpha1.ServicePort{{Name: "http", Protocol: tcp, Port: 80}}, true},
		{"same protocol and port, other name: older kept",
			[][]corev1.ServicePort{{port("http", tcp, 80)}, {port("web", tcp, 80)}},
			[]mcsv1alpha1.ServicePort{{Name: "http", Protocol: tcp, Port: 80}}, true},
		{"same port number, other protocol: both",
			[][]corev1.ServicePort{{port("dns", "UDP", 53)}, {port("dns-tcp", tcp, 53)}},
			[]mcsv1alpha1.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53}, {Name: "dns-tcp", Protocol: tcp, Port: 53}}, true},
		{"protocol case and default",
			[][]corev1.ServicePort{{port("dns", "udp", 53), port("http", "", 80)}, {port("http", tcp, 80), port("dns", "UDP", 53)}},
			[]mcsv1alpha1.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53}, {Name: "http", Protocol: tcp, Port: 80}}, false},
		{"an unnamed port stays alone",
			[][]corev1.ServicePort{{port("", tcp, 80)}, {port("grpc", tcp, 9090)}},
			[]mcsv1alpha1.ServicePort{{Name: "", Protocol: tcp, Port: 80}}, true},
		{"a newer unnamed port cannot join",
			[][]corev1.ServicePort{{port("grpc", tcp, 9090)}, {port("", tcp, 80)}},
			[]mcsv1alpha1.ServicePort{{Name: "grpc", Protocol: tcp, Port: 9090}}, true},
		{"appProtocol differs: older kept",
			[][]corev1.ServicePort{{{Name: "web", Protocol: tcp, Port: 80, AppProtocol: ptrTo("http")}}, {{Name: "web", Protocol: tcp, Port: 80, AppProtocol: ptrTo("kubernetes.io/h2c")}}},
			[]mcsv1alpha1.ServicePort{{Name: "web", Protocol: tcp, Port: 80, AppProtocol: ptrTo("http")}}, true},
		{"no ports anywhere",
			[][]corev1.ServicePort{nil, nil}, nil, false},
		{"third cluster collides with the second",
			[][]corev1.ServicePort{{port("http", tcp, 80)}, {port("metrics", tcp, 9090)}, {port("metrics", tcp, 9091)}},
			[]mcsv1alpha1.ServicePort{{Name: "http", Protocol: tcp, Port: 80}, {Name: "metrics", Protocol: tcp, Port: 9090}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var exports []ClusterExport
			for i, ports := range tt.ports {
				exports = append(exports, clusterExport("cluster-"+string(rune('1'+i)), i, newService(headless(), withPorts(ports...))))
			}
			s, conds := Merge("default", "web", exports)
			if !equality.Semantic.DeepEqual(s.Ports, tt.want) {
				t.Errorf("ports = %+v, want %+v", s.Ports, tt.want)
			}
			reason := conditionOf(conds["cluster-1"], mcsv1alpha1.ServiceExportConditionConflict).Reason
			if got := reason == string(mcsv1alpha1.ServiceExportReasonPortConflict); got != tt.conflict {
				t.Errorf("Conflict reason %s, want PortConflict: %v", reason, tt.conflict)
			}
		})
	}
}

func TestMergeFields(t *testing.T) {
	s, _ := Merge("default", "web", []ClusterExport{
		clusterExport("cluster-2", 1, newService(withFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol))),
		clusterExport("cluster-1", 0, newService(clientIP(60), func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = nil
			s.Spec.TrafficDistribution = ptrTo("PreferClose")
		}), exportedLabels(map[string]string{"tier": "web"}), exportedAnnotations(map[string]string{"note": "x"})),
	})
	want := &Service{
		Namespace: "default", Name: "web", Type: mcsv1alpha1.ClusterSetIP,
		Ports:                 []mcsv1alpha1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		SessionAffinity:       corev1.ServiceAffinityClientIP,
		SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](60)}},
		InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		TrafficDistribution:   ptrTo("PreferClose"),
		IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
		Labels:                map[string]string{"tier": "web"},
		Annotations:           map[string]string{"note": "x"},
		Clusters:              []string{"cluster-1", "cluster-2"},
		Winner:                "cluster-1",
	}
	if !equality.Semantic.DeepEqual(s, want) {
		t.Errorf("Merge =\n%+v\nwant\n%+v", s, want)
	}
}

func TestMergeDoesNotAliasInputs(t *testing.T) {
	e := clusterExport("cluster-1", 0, newService(clientIP(60), withPorts(corev1.ServicePort{Name: "web", Port: 80, AppProtocol: ptrTo("http")})),
		exportedLabels(map[string]string{"tier": "web"}))
	before := e.Service.DeepCopy()
	s, _ := Merge("default", "web", []ClusterExport{e})
	*s.Ports[0].AppProtocol = "changed"
	*s.SessionAffinityConfig.ClientIP.TimeoutSeconds = 1
	s.Labels["tier"] = "changed"
	if !equality.Semantic.DeepEqual(e.Service, before) || e.Export.Spec.ExportedLabels["tier"] != "web" {
		t.Errorf("changing the merged service changed the inputs")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s     string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"a message that is too long", 12, "a message..."[:8] + " ..."},
		{"ïïïïï", 7, "ï ..."}, // never cuts a two-byte character in half
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.limit); got != tt.want || len(got) > tt.limit {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.limit, got, tt.want)
		}
	}
}

func TestMergeConflictMessageFitsACondition(t *testing.T) {
	// 300 clusters whose 20 ports all collide with the oldest export's.
	var exports []ClusterExport
	for c := range 300 {
		var ports []corev1.ServicePort
		for p := range 20 {
			ports = append(ports, port("port-"+strconv.Itoa(p), corev1.ProtocolTCP, int32(1000*c+p+1)))
		}
		exports = append(exports, clusterExport("cluster-"+strconv.Itoa(c), c, newService(withPorts(ports...))))
	}
	_, conds := Merge("default", "web", exports)
	msg := conditionOf(conds["cluster-0"], mcsv1alpha1.ServiceExportConditionConflict).Message
	if len(msg) > maxConditionMessage || !strings.HasSuffix(msg, " ...") {
		t.Errorf("message of %d bytes, want at most %d and marked as cut", len(msg), maxConditionMessage)
	}
}
