package attack

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

// TestHubSyncerUnderPolicy runs a real hub-mode syncer whose member kubeconfigs authenticate as
// the clusterset-hub ServiceAccount of deploy/syncer/hub-member, applied as shipped: the policy
// confines it, and it still publishes an export into every member with every write succeeding.
func TestHubSyncerUnderPolicy(t *testing.T) {
	kubectl, root := prerequisites(t)
	ctx := klog.NewContext(t.Context(), ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(1))))
	env := localenv.StartT(t, localenv.Options{Clusters: 2})
	clusters, err := harness.Clusters(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	hub := identity{namespace: shippedNamespace, account: "clusterset-hub", policy: shipped.policy, binding: shipped.binding}
	memberDir := t.TempDir()
	for i, c := range clusters {
		runKubectl(t, kubectl, c.Kubeconfig, "apply", "-k", filepath.Join(root, "deploy", "syncer", "hub-member"))
		newSetup(t, c.Config, hub).waitForPolicy(t)
		kubeconfig, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, user := range kubeconfig.AuthInfos {
			user.Impersonate = "system:serviceaccount:" + hub.namespace + ":" + hub.account
			user.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + hub.namespace, "system:authenticated"}
		}
		if err := clientcmd.WriteToFile(*kubeconfig, filepath.Join(memberDir, fmt.Sprintf("member-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	syncer := harness.StartInProcess(ctx, harness.Options(clusters[0], app.ModeHub, memberDir, 4*time.Second))
	t.Cleanup(func() {
		if err := syncer.Stop(); err != nil {
			t.Errorf("hub syncer: %v", err)
		}
	})

	const ns, name, address = "shop", "web", "10.244.2.10"
	exporter := clusters[1]
	for _, c := range clusters {
		if err := c.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{address}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := exporter.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := exporter.Kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := exporter.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, export, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var last error
	// The checks run with the test's context, so that the last error is theirs, not the poll's
	// deadline.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		var missing []string
		for _, c := range clusters {
			if err := published(ctx, c, ns, name, address); err != nil {
				missing = append(missing, c.ID+": "+err.Error())
			}
		}
		last = fmt.Errorf("%s", strings.Join(missing, "; "))
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Fatalf("the hub did not publish %s/%s in every member: %v", ns, name, last)
	}
	for labels, n := range syncer.WritesByLabels() {
		if !strings.Contains(labels, "result=success") {
			t.Errorf("%v hub writes with %s", n, labels)
		}
	}
}

// published checks that c holds the import of ns/name: the derived Service, the ServiceImport
// with its cluster IP, and a mirrored slice with address.
func published(ctx context.Context, c *harness.Cluster, ns, name, address string) error {
	if _, err := c.Kube.CoreV1().Services(ns).Get(ctx, desired.DerivedServiceName(name), metav1.GetOptions{}); err != nil {
		return err
	}
	si, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if len(si.Spec.IPs) == 0 {
		return fmt.Errorf("ServiceImport %s/%s has no IPs yet", ns, name)
	}
	mirrored, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
	if err != nil {
		return err
	}
	for _, s := range mirrored.Items {
		for _, ep := range s.Endpoints {
			if slices.Contains(ep.Addresses, address) {
				return nil
			}
		}
	}
	return fmt.Errorf("no mirrored slice with %s among %d", address, len(mirrored.Items))
}
