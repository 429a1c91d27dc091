package attack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
)

const (
	// shippedNamespace is the syncer's namespace in deploy/syncer as shipped.
	shippedNamespace = "clusterset-system"
	// victim is a namespace the syncer serves, holding objects it does not manage.
	victim = "victim"
	// sourceCluster is the member the genuine slice mirrors.
	sourceCluster = "cluster-9"
)

// installation is a base that confines a writer, applied one way: as shipped, or rendered by
// an overlay.
type installation struct {
	name string
	// kustomization returns the directory to apply with `kubectl apply -k`.
	kustomization func(t *testing.T, root string) string
	// identity is what the rendered base confines.
	identity
}

// identity is a confined writer: its ServiceAccount, and the policy and binding that confine it.
type identity struct {
	namespace, account string
	policy, binding    string
	// runsHere: a syncer runs in this cluster as the account (pull mode), and renews its
	// Leases and lists its member Secrets in its namespace. A hub writes only.
	runsHere bool
}

// shipped is deploy/syncer as shipped.
var shipped = identity{namespace: shippedNamespace, account: "clusterset-syncer",
	policy: "clusterset-syncer-writes", binding: "clusterset-syncer-writes", runsHere: true}

// TestStolenSyncerToken applies deploy/syncer to a real apiserver, then acts as the syncer's
// ServiceAccount (impersonation, as a stolen token would authenticate) and tries each write a
// compromised syncer could use to steer traffic or reach beyond what it manages. Every one
// must be refused, by the admission policy or by RBAC, with that denial (not some other
// failure); the syncer's own writes must still succeed. It does so, each in its own cluster,
// for the base as shipped, for the base rendered into another namespace by a kustomize
// overlay, for one that renames it with a prefix, and for deploy/syncer/hub-member with the
// hub's ServiceAccount.
func TestStolenSyncerToken(t *testing.T) {
	kubectl, root := prerequisites(t)
	moved, prefixed := shipped, shipped
	moved.namespace = "clusterset-elsewhere"
	prefixed.account, prefixed.policy, prefixed.binding = "blue-"+shipped.account, "blue-"+shipped.policy, "blue-"+shipped.binding
	installations := []installation{
		{"shipped", base("deploy", "syncer"), shipped},
		{"namespace-overlay", overlay("namespace: " + moved.namespace), moved},
		{"name-prefix-overlay", overlay("namePrefix: blue-"), prefixed},
		{"hub-member", base("deploy", "syncer", "hub-member"), identity{namespace: shippedNamespace, account: "clusterset-hub",
			policy: shipped.policy, binding: shipped.binding}},
	}
	env := localenv.StartT(t, localenv.Options{Clusters: len(installations)})
	for i, inst := range installations {
		c := env.Clusters[i]
		t.Run(inst.name, func(t *testing.T) {
			t.Parallel()
			dir := inst.kustomization(t, root)
			rendered := runKubectl(t, kubectl, "", "kustomize", dir)
			if inst.namespace != shippedNamespace && strings.Contains(rendered, shippedNamespace) {
				t.Fatalf("the overlay left references to %s:\n%s", shippedNamespace, rendered)
			}
			runKubectl(t, kubectl, c.Kubeconfig, "apply", "-k", dir)
			s := newSetup(t, c.Config, inst.identity)
			s.waitForPolicy(t)
			s.plantForeignObjects(t)
			for _, a := range s.attacks() {
				t.Run(a.name, func(t *testing.T) {
					err := a.try(t.Context())
					if checkErr := a.want.check(err, s.identity, s.user); checkErr != nil {
						t.Errorf("%s: %v", a.name, checkErr)
					} else {
						t.Logf("refused as expected: %v", err)
					}
				})
			}
			t.Run("the syncer's own writes", s.testOwnWrites)
			t.Run("others are not confined", s.testOthersUnconfined)
		})
	}
}

// prerequisites skips a test that starts real apiservers under -short, and returns kubectl and
// the module root.
func prerequisites(t *testing.T) (kubectl, root string) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	kubectl = bindir.Require(t, "kubectl")["kubectl"]
	root, err := bindir.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return kubectl, root
}

// base returns the directory of a shipped base.
func base(path ...string) func(*testing.T, string) string {
	return func(_ *testing.T, root string) string { return filepath.Join(append([]string{root}, path...)...) }
}

// overlay returns a kustomization of deploy/syncer with one transformer field, written in a
// temporary directory as a user's overlay would be.
func overlay(field string) func(*testing.T, string) string {
	return func(t *testing.T, root string) string {
		dir := t.TempDir()
		base, err := filepath.Rel(dir, filepath.Join(root, "deploy", "syncer"))
		if err != nil {
			t.Fatal(err)
		}
		kustomization := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n%s\nresources:\n  - %s\n", field, base)
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
}

// setup is one cluster with a base applied: clients as the admin and as the confined identity.
type setup struct {
	identity
	user     string // the identity's username
	admin    kubernetes.Interface
	adminMCS mcsclient.Interface
	kube     kubernetes.Interface // as the syncer
	mcs      mcsclient.Interface  // as the syncer
}

func newSetup(t *testing.T, admin *rest.Config, id identity) *setup {
	user := "system:serviceaccount:" + id.namespace + ":" + id.account
	syncer := rest.CopyConfig(admin)
	syncer.Impersonate = rest.ImpersonationConfig{
		UserName: user,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + id.namespace, "system:authenticated"},
	}
	s := &setup{identity: id, user: user}
	var errs [4]error
	s.admin, errs[0] = kubernetes.NewForConfig(admin)
	s.adminMCS, errs[1] = mcsclient.NewForConfig(admin)
	s.kube, errs[2] = kubernetes.NewForConfig(syncer)
	s.mcs, errs[3] = mcsclient.NewForConfig(syncer)
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitForPolicy waits until the apiserver enforces the policy: it loads policies, bindings and
// parameters through informers, a moment after they are created.
func (s *setup) waitForPolicy(t *testing.T) {
	probe := mutated(genuineService(victim), func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
	s.createNamespace(t, victim)
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := s.kube.CoreV1().Services(victim).Create(ctx, probe, metav1.CreateOptions{})
		if err == nil {
			return false, s.admin.CoreV1().Services(victim).Delete(ctx, probe.Name, metav1.DeleteOptions{})
		}
		return byPolicy("").check(err, s.identity, s.user) == nil, nil
	})
	if err != nil {
		t.Fatalf("the admission policy is not in force: %v", err)
	}
}

func (s *setup) createNamespace(t *testing.T, name string) {
	_, err := s.admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// Objects the admin created and the syncer does not manage.
const (
	foreignService = "derived-123"   // a user's Service that happens to have a derived-style name
	foreignSlice   = "derived-123-x" // a user's slice for it
	foreignImport  = "foreign"       // a ServiceImport of another MCS implementation
)

// plantForeignObjects creates, as the admin, objects in served namespaces that the syncer does
// not manage: the attacks try to change or delete them.
func (s *setup) plantForeignObjects(t *testing.T) {
	ctx := t.Context()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: foreignService, Namespace: victim},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	slice := mutated(genuineSlice(victim), func(es *discoveryv1.EndpointSlice) {
		es.Name = foreignSlice
		es.Labels = map[string]string{discoveryv1.LabelServiceName: foreignService}
	})
	si := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: foreignImport, Namespace: victim},
		Spec:       mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ClusterSetIP, Ports: []mcsv1alpha1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	errs := []error{
		ignoreExists(s.admin.CoreV1().Services(victim).Create(ctx, svc, metav1.CreateOptions{})),
		ignoreExists(s.admin.DiscoveryV1().EndpointSlices(victim).Create(ctx, slice, metav1.CreateOptions{})),
		ignoreExists(s.adminMCS.MulticlusterV1alpha1().ServiceImports(victim).Create(ctx, si, metav1.CreateOptions{})),
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func ignoreExists[T any](_ T, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// The genuine objects: what the syncer writes for the export "web" of namespace ns, built by
// the syncer's own desired-state functions.
func genuineMerged(ns string) *desired.Service {
	return &desired.Service{
		Namespace:             ns,
		Name:                  "web",
		Type:                  mcsv1alpha1.ClusterSetIP,
		Ports:                 []mcsv1alpha1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		SessionAffinity:       corev1.ServiceAffinityNone,
		InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		Clusters:              []string{sourceCluster},
		Winner:                sourceCluster,
	}
}

func genuineService(ns string) *corev1.Service {
	merged := genuineMerged(ns)
	return desired.DerivedService(merged, desired.DerivedServiceName(merged.Name), nil)
}

func genuineImport(ns string) *mcsv1alpha1.ServiceImport {
	return desired.ServiceImport(genuineMerged(ns), genuineService(ns))
}

func genuineSlice(ns string) *discoveryv1.EndpointSlice {
	merged := genuineMerged(ns)
	source := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
	sourceSlice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abcde", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.9.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	slices, _ := desired.EndpointSlices(merged, []desired.ClusterExport{{
		ClusterID: sourceCluster,
		Export:    &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}},
		Service:   source,
		Slices:    []*discoveryv1.EndpointSlice{sourceSlice},
	}}, desired.SliceOptions{DerivedName: desired.DerivedServiceName(merged.Name)})
	return slices[0]
}

// mutated returns a copy of obj changed by f.
func mutated[T interface{ DeepCopy() T }](obj T, f func(T)) T {
	c := obj.DeepCopy()
	f(c)
	return c
}

// attack is one write tried as the syncer, and how it must be refused.
type attack struct {
	name string
	try  func(ctx context.Context) error
	want refusal
}

func (s *setup) attacks() []attack {
	svcs := func(ns string) func(ctx context.Context, svc *corev1.Service) error {
		return func(ctx context.Context, svc *corev1.Service) error {
			_, err := s.kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
			return err
		}
	}
	createService := func(ns string, f func(*corev1.Service)) func(context.Context) error {
		return func(ctx context.Context) error { return svcs(ns)(ctx, mutated(genuineService(ns), f)) }
	}
	createSlice := func(ns string, f func(*discoveryv1.EndpointSlice)) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, mutated(genuineSlice(ns), f), metav1.CreateOptions{})
			return err
		}
	}
	createImport := func(ns string, f func(*mcsv1alpha1.ServiceImport)) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.mcs.MulticlusterV1alpha1().ServiceImports(ns).Create(ctx, mutated(genuineImport(ns), f), metav1.CreateOptions{})
			return err
		}
	}
	updateService := func(ns, name string, f func(*corev1.Service)) func(context.Context) error {
		return rewrite(s.admin.CoreV1().Services(ns).Get, name, f, s.kube.CoreV1().Services(ns).Update)
	}
	getSecret := func(ns, name string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			return err
		}
	}
	managed := func(svc *corev1.Service) {
		svc.Labels = map[string]string{desired.ManagedByLabel: desired.ManagerName}
	}
	pointAt := func(addr string) func(*discoveryv1.EndpointSlice) {
		return func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{addr} }
	}
	return []attack{
		// CVE-2021-25740 class: a slice that kube-proxy merges into the kubernetes Service.
		{"slice for the kubernetes Service in default", createSlice(metav1.NamespaceDefault, func(es *discoveryv1.EndpointSlice) {
			es.Labels[discoveryv1.LabelServiceName] = "kubernetes"
		}), byPolicy("EndpointSlices labelled kubernetes.io/service-name=derived-")},
		{"slice named for the kubernetes Service", createSlice(metav1.NamespaceDefault, func(es *discoveryv1.EndpointSlice) {
			es.Name = "kubernetes-hijack"
			es.Labels[discoveryv1.LabelServiceName] = "kubernetes"
		}), byPolicy("Services and EndpointSlices named derived-")},
		{"unlabelled slice", createSlice(victim, func(es *discoveryv1.EndpointSlice) {
			delete(es.Labels, discoveryv1.LabelManagedBy)
		}), byPolicy("objects labelled endpointslice.kubernetes.io/managed-by=clusterset-syncer")},
		{"slice without the MCS labels", createSlice(victim, func(es *discoveryv1.EndpointSlice) {
			delete(es.Labels, mcsv1alpha1.LabelSourceCluster)
		}), byPolicy("labelled multicluster.kubernetes.io/service-name and multicluster.kubernetes.io/source-cluster")},
		{"slice to multicast", createSlice(victim, pointAt("239.255.255.250")), byPolicy("without multicast addresses")},
		{"slice to IPv6 multicast", createSlice(victim, func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeIPv6
			es.Endpoints[0].Addresses = []string{"ff05::1:3"}
		}), byPolicy("without multicast addresses")},
		{"slice to FQDNs", createSlice(victim, func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"attacker.example"}
		}), byPolicy("writes only IPv4 or IPv6 EndpointSlices")},
		// The apiserver's own validation refuses these address classes to everyone.
		{"slice to loopback", createSlice(victim, pointAt("127.0.0.1")), byValidation("may not be in the loopback range")},
		{"slice to the cloud metadata address", createSlice(victim, pointAt("169.254.169.254")), byValidation("may not be in the link-local range")},
		{"slice to link-local multicast", createSlice(victim, pointAt("224.0.0.251")), byValidation("may not be in the link-local multicast range")},
		{"slice to the unspecified address", createSlice(victim, pointAt("0.0.0.0")), byValidation("may not be unspecified")},
		{"taking over a user's slice by labelling it", rewrite(s.admin.DiscoveryV1().EndpointSlices(victim).Get, foreignSlice,
			func(es *discoveryv1.EndpointSlice) { es.Labels = genuineSlice(victim).Labels },
			s.kube.DiscoveryV1().EndpointSlices(victim).Update), byPolicy("changes and deletes only objects already labelled endpointslice.kubernetes.io/managed-by")},
		{"deleting a user's slice", func(ctx context.Context) error {
			return s.kube.DiscoveryV1().EndpointSlices(victim).Delete(ctx, foreignSlice, metav1.DeleteOptions{})
		}, byPolicy("changes and deletes only objects already labelled endpointslice.kubernetes.io/managed-by")},

		// CVE-2020-8554 class: Services that capture traffic beyond their cluster IP.
		{"LoadBalancer Service", createService(victim, func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
		}), byPolicy("without load-balancer or external-name fields")},
		{"LoadBalancer Service with node ports", createService(victim, func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		}), byPolicy("without node ports")},
		{"Service with externalIPs", createService(victim, func(svc *corev1.Service) {
			svc.Spec.ExternalIPs = []string{"203.0.113.7"}
		}), byPolicy("without externalIPs")},
		{"Service with a selector", createService(victim, func(svc *corev1.Service) {
			svc.Spec.Selector = map[string]string{"app": "web"}
		}), byPolicy("without a selector")},
		{"NodePort Service", createService(victim, func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeNodePort
			svc.Spec.Ports[0].NodePort = 30080
		}), byPolicy("without node ports")},
		{"ExternalName Service", createService(victim, func(svc *corev1.Service) {
			svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "attacker.example"}
		}), byPolicy("without load-balancer or external-name fields")},
		{"managed Service not named derived-", createService(victim, func(svc *corev1.Service) {
			svc.Name = "web"
		}), byPolicy("Services and EndpointSlices named derived-")},
		{"unlabelled derived Service", createService(victim, func(svc *corev1.Service) {
			delete(svc.Labels, desired.ManagedByLabel)
		}), byPolicy("objects labelled app.kubernetes.io/managed-by=clusterset-syncer")},
		{"derived Service in kube-system", createService(metav1.NamespaceSystem, func(*corev1.Service) {}),
			byPolicy("namespaces it serves, not kube-system")},
		{"derived Service in the syncer's namespace", createService(s.namespace, func(*corev1.Service) {}),
			byPolicy("namespaces it serves, not " + s.namespace)},
		{"taking over a user's Service by labelling it", updateService(victim, foreignService, managed),
			byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"updating a user's Service", updateService(victim, foreignService, func(svc *corev1.Service) {
			svc.Spec.Ports[0].TargetPort = intstr.FromInt32(9999)
		}), byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"steering kubernetes.default by labelling it", updateService(metav1.NamespaceDefault, "kubernetes", func(svc *corev1.Service) {
			managed(svc)
			svc.Spec.ExternalIPs = []string{"203.0.113.7"}
		}), byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"deleting a user's Service", func(ctx context.Context) error {
			return s.kube.CoreV1().Services(victim).Delete(ctx, foreignService, metav1.DeleteOptions{})
		}, byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"deleting kubernetes.default", func(ctx context.Context) error {
			return s.kube.CoreV1().Services(metav1.NamespaceDefault).Delete(ctx, "kubernetes", metav1.DeleteOptions{})
		}, byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"load-balancer ingress through the status subresource", func(ctx context.Context) error {
			patch := `{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}`
			_, err := s.kube.CoreV1().Services(victim).Patch(ctx, foreignService, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
			return err
		}, byRBAC("patch", "services/status")},

		{"unlabelled ServiceImport", createImport(victim, func(si *mcsv1alpha1.ServiceImport) {
			delete(si.Labels, desired.ManagedByLabel)
		}), byPolicy("objects labelled app.kubernetes.io/managed-by=clusterset-syncer")},
		{"ServiceImport in kube-system", createImport(metav1.NamespaceSystem, func(*mcsv1alpha1.ServiceImport) {}),
			byPolicy("namespaces it serves, not kube-system")},
		{"status of another implementation's ServiceImport", rewrite(s.adminMCS.MulticlusterV1alpha1().ServiceImports(victim).Get, foreignImport,
			func(si *mcsv1alpha1.ServiceImport) {
				si.Status.Clusters = []mcsv1alpha1.ClusterStatus{{Cluster: sourceCluster}}
			},
			s.mcs.MulticlusterV1alpha1().ServiceImports(victim).UpdateStatus), byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},
		{"deleting another implementation's ServiceImport", func(ctx context.Context) error {
			return s.mcs.MulticlusterV1alpha1().ServiceImports(victim).Delete(ctx, foreignImport, metav1.DeleteOptions{})
		}, byPolicy("changes and deletes only objects already labelled app.kubernetes.io/managed-by")},

		// Beyond its objects: credentials, code, and the controls themselves.
		{"reading a Secret in kube-system", getSecret(metav1.NamespaceSystem, "any"), byRBAC("get", "secrets")},
		{"getting a Secret by name in its own namespace", getSecret(s.namespace, "clusterset-member-reader-token"), byRBAC("get", "secrets")},
		{"listing Secrets in every namespace", func(ctx context.Context) error {
			_, err := s.kube.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			return err
		}, byRBAC("list", "secrets")},
		{"running a Pod", func(ctx context.Context) error {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}
			_, err := s.kube.CoreV1().Pods(victim).Create(ctx, pod, metav1.CreateOptions{})
			return err
		}, byRBAC("create", "pods")},
		{"deleting the policy's binding", func(ctx context.Context) error {
			return s.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, s.binding, metav1.DeleteOptions{})
		}, byRBAC("delete", "validatingadmissionpolicybindings")},
		{"widening its namespaces on its ServiceAccount", func(ctx context.Context) error {
			patch := `{"metadata":{"annotations":{"multicluster.clusterset.io/denied-namespaces":""}}}`
			_, err := s.kube.CoreV1().ServiceAccounts(s.namespace).Patch(ctx, s.account, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}, byRBAC("patch", "serviceaccounts")},
		{"reading a Lease that is not its own", func(ctx context.Context) error {
			_, err := s.kube.CoordinationV1().Leases(s.namespace).Get(ctx, "someone-else", metav1.GetOptions{})
			return err
		}, byRBAC("get", "leases")},
	}
}

// rewrite returns an attack that reads the object name as the admin (get), changes it, and
// writes it back as the syncer (write).
func rewrite[T any](get func(context.Context, string, metav1.GetOptions) (T, error), name string,
	change func(T), write func(context.Context, T, metav1.UpdateOptions) (T, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		obj, err := get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		change(obj)
		_, err = write(ctx, obj, metav1.UpdateOptions{})
		return err
	}
}

// refusal is how an attack must be refused: by one rule of the admission policy, by RBAC, or
// by the apiserver's own validation.
type refusal struct {
	by     refuser
	phrase string // what the denial must say
}

type refuser int

const (
	policy refuser = iota
	rbac
	validation
)

func byPolicy(rule string) refusal { return refusal{policy, rule} }
func byRBAC(verb, resource string) refusal {
	return refusal{rbac, verb + ` resource "` + resource + `"`}
}
func byValidation(message string) refusal { return refusal{validation, message} }

// check returns nil when err is the wanted denial of a request by user, confined as id.
func (r refusal) check(err error, id identity, user string) error {
	if err == nil {
		return errors.New("allowed")
	}
	msg := err.Error()
	switch r.by {
	case validation:
		if !apierrors.IsInvalid(err) || !strings.Contains(msg, r.phrase) {
			return fmt.Errorf("not refused as invalid (%q): %w", r.phrase, err)
		}
	case rbac:
		if want := fmt.Sprintf("User %q cannot %s", user, r.phrase); !apierrors.IsForbidden(err) || !strings.Contains(msg, want) {
			return fmt.Errorf("not denied by RBAC (%q): %w", want, err)
		}
	default:
		prefix := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request", id.policy, id.binding)
		if !apierrors.IsForbidden(err) || !strings.Contains(msg, prefix) || !strings.Contains(msg, r.phrase) {
			return fmt.Errorf("not denied by the policy's rule %q: %w", r.phrase, err)
		}
	}
	return nil
}

// testOwnWrites writes, as the syncer, what it writes for an export: the derived Service (and a
// headless one), the ServiceImport and its status, a mirrored slice, its Leases; then updates
// and deletes them. Every write must pass.
func (s *setup) testOwnWrites(t *testing.T) {
	ctx := t.Context()
	ns := "served"
	s.createNamespace(t, ns)
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	svc, err := s.kube.CoreV1().Services(ns).Create(ctx, genuineService(ns), metav1.CreateOptions{})
	step("creating the derived Service", err)
	headless := mutated(genuineService(ns), func(svc *corev1.Service) {
		svc.Name += "-headless"
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	})
	_, err = s.kube.CoreV1().Services(ns).Create(ctx, headless, metav1.CreateOptions{})
	step("creating a headless derived Service", err)
	si, err := s.mcs.MulticlusterV1alpha1().ServiceImports(ns).Create(ctx, desired.ServiceImport(genuineMerged(ns), svc), metav1.CreateOptions{})
	step("creating the ServiceImport", err)
	si.Status.Clusters = []mcsv1alpha1.ClusterStatus{{Cluster: sourceCluster}}
	_, err = s.mcs.MulticlusterV1alpha1().ServiceImports(ns).UpdateStatus(ctx, si, metav1.UpdateOptions{})
	step("updating the ServiceImport's status", err)
	slice, err := s.kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, genuineSlice(ns), metav1.CreateOptions{})
	step("creating the mirrored slice", err)
	slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.9.11"}})
	_, err = s.kube.DiscoveryV1().EndpointSlices(ns).Update(ctx, slice, metav1.UpdateOptions{})
	step("updating the mirrored slice", err)
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(443)})
	_, err = s.kube.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{})
	step("updating the derived Service", err)
	if s.runsHere {
		for _, name := range []string{"clusterset-syncer", "clusterset-syncer-heartbeat"} {
			lease, err := s.kube.CoordinationV1().Leases(s.namespace).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			step("creating the Lease "+name, err)
			lease.Spec.HolderIdentity = ptr.To("attack-test")
			_, err = s.kube.CoordinationV1().Leases(s.namespace).Update(ctx, lease, metav1.UpdateOptions{})
			step("renewing the Lease "+name, err)
		}
		_, err = s.kube.CoreV1().Secrets(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: "multicluster.clusterset.io/member-kubeconfig=true"})
		step("listing the member Secrets", err)
	}
	step("deleting the mirrored slice", s.kube.DiscoveryV1().EndpointSlices(ns).Delete(ctx, slice.Name, metav1.DeleteOptions{}))
	step("deleting the ServiceImport", s.mcs.MulticlusterV1alpha1().ServiceImports(ns).Delete(ctx, si.Name, metav1.DeleteOptions{}))
	step("deleting the derived Service", s.kube.CoreV1().Services(ns).Delete(ctx, svc.Name, metav1.DeleteOptions{}))
	step("deleting the headless Service", s.kube.CoreV1().Services(ns).Delete(ctx, headless.Name, metav1.DeleteOptions{}))
}

// testOthersUnconfined checks that the policy confines the syncer alone: the admin may still
// create what the syncer may not.
func (s *setup) testOthersUnconfined(t *testing.T) {
	lb := mutated(genuineService(victim), func(svc *corev1.Service) {
		svc.Name = "admins-load-balancer"
		svc.Labels = nil
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		svc.Spec.Selector = map[string]string{"app": "web"}
	})
	if _, err := s.admin.CoreV1().Services(victim).Create(t.Context(), lb, metav1.CreateOptions{}); err != nil {
		t.Errorf("the admin creating a LoadBalancer Service: %v", err)
	}
}

// runKubectl runs kubectl (with a kubeconfig unless it is empty) in a clean environment and
// returns its standard output; it fails the test on an error, with kubectl's standard error.
func runKubectl(t *testing.T, kubectl, kubeconfig string, args ...string) string {
	t.Helper()
	if kubeconfig != "" {
		args = append([]string{"--kubeconfig", kubeconfig}, args...)
	}
	cmd := exec.CommandContext(t.Context(), kubectl, args...)
	cmd.Env = append(proc.CleanEnv(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
