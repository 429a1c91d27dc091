package syncer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

const deployDir = "../../../deploy/syncer"

// serviceAccount is the user a ServiceAccount authenticates as.
func serviceAccount(name string) rest.ImpersonationConfig {
	return rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + harness.SyncerNamespace + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + harness.SyncerNamespace, "system:authenticated"},
	}
}

// TestDeployedRBAC runs pull-mode syncers with only the access deploy/syncer grants: the
// local cluster as the clusterset-syncer ServiceAccount, peers as their
// clusterset-member-reader; the manifests are applied as shipped. It also checks that the
// admission policy confines the syncer's writes to the objects it manages.
func TestDeployedRBAC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	ctx := klog.NewContext(context.Background(), ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(1))))
	env := localenv.StartT(t, localenv.Options{Clusters: 2})
	clusters, err := harness.Clusters(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	memberDir := t.TempDir()
	reader := serviceAccount("clusterset-member-reader")
	for i, c := range clusters {
		for _, dir := range []string{deployDir, filepath.Join(deployDir, "member-reader")} {
			if err := harness.ApplyKustomization(ctx, c.Config, dir); err != nil {
				t.Fatalf("%s: applying %s: %v", c.ID, dir, err)
			}
		}
		kubeconfig, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, user := range kubeconfig.AuthInfos {
			user.Impersonate, user.ImpersonateGroups = reader.UserName, reader.Groups
		}
		if err := clientcmd.WriteToFile(*kubeconfig, filepath.Join(memberDir, fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var syncers []*harness.InProcess
	for _, c := range clusters {
		o := harness.Options(c, app.ModePull, memberDir, ttl)
		o.LocalConfig = rest.CopyConfig(c.Config)
		o.LocalConfig.Impersonate = serviceAccount("clusterset-syncer")
		syncers = append(syncers, harness.StartInProcess(ctx, o))
	}
	t.Cleanup(func() {
		for _, s := range syncers {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		}
	})

	s := &suite{ctx: ctx, mode: app.ModePull, clusters: clusters}
	const ns, name = "rbac", "web"
	s.namespace(t, ns)
	c1, c2 := clusters[0], clusters[1]
	s.createService(t, c2, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c2, ns, name, "web-1", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips("10.110", 2))
	s.export(t, c2, ns, name)
	want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{c2.ID},
		eps: map[string][]string{c2.ID: addresses(ips("10.110", 2))}}
	eventually(t, "import in both clusters, export Ready", func() error {
		if err := s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, want) }); err != nil {
			return err
		}
		return s.checkConditions(c2, ns, name, "Valid=True/Valid", "Ready=True/Exported")
	})
	// The peers can read each other's heartbeat Lease: nobody turns stale.
	time.Sleep(2 * ttl)
	if err := s.checkImport(c1, ns, name, want); err != nil {
		t.Errorf("after %v: %v", 2*ttl, err)
	}
	for i, sy := range syncers {
		for labels, n := range sy.WritesByLabels() {
			if !strings.Contains(labels, "result=success") {
				t.Errorf("syncer %d: %v writes with %s", i, n, labels)
			}
		}
	}

	// As the syncer: foreign objects are off limits, our own are not.
	cfg := rest.CopyConfig(c1.Config)
	cfg.Impersonate = serviceAccount("clusterset-syncer")
	asSyncer, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	foreign := service(ns, "foreign", corev1.ServiceTypeClusterIP, port("http", 80))
	s.createService(t, c1, foreign)
	eventually(t, "the admission policy in force", func() error {
		_, err := asSyncer.CoreV1().Services(ns).Create(ctx, service(ns, "unlabelled", corev1.ServiceTypeClusterIP, port("http", 80)), metav1.CreateOptions{})
		if err == nil {
			_ = c1.Kube.CoreV1().Services(ns).Delete(ctx, "unlabelled", metav1.DeleteOptions{})
			return fmt.Errorf("the syncer created an unlabelled Service")
		}
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			return err
		}
		t.Logf("denied: %v", err)
		return nil
	})
	if err := asSyncer.CoreV1().Services(ns).Delete(ctx, "foreign", metav1.DeleteOptions{}); err == nil {
		t.Errorf("the syncer deleted a Service it does not manage")
	}
	relabelled, err := c1.Kube.CoreV1().Services(ns).Get(ctx, "foreign", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relabelled.Labels = map[string]string{desired.ManagedByLabel: desired.ManagerName}
	if _, err := asSyncer.CoreV1().Services(ns).Update(ctx, relabelled, metav1.UpdateOptions{}); err == nil {
		t.Errorf("the syncer took over a Service it does not manage by labelling it")
	}
	if _, err := asSyncer.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("creating a ConfigMap as the syncer: %v, want forbidden", err)
	}
}
