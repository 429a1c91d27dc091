package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/test/localenv"
)

// The smoke scenario's service, exported from the first member.
const (
	smokeNamespace = "demo"
	smokeService   = "web"
	// smokeEndpoint is a Pod IP of the exporting member, outside every member's Service range.
	smokeEndpoint = "10.244.1.10"
	// smokeMemberTTL is short, so that the uninstall case sees the endpoints withdrawn soon.
	smokeMemberTTL = 10 * time.Second
	// convergeTimeout bounds each wait for the syncers.
	convergeTimeout = 2 * time.Minute
)

// TestHelm runs the chart on a localenv clusterset of three members:
//   - dry-run: helm template for a pull member, a hub that is a member and a hub member, each
//     applied with kubectl apply --dry-run=server;
//   - install: helm install --wait in every member, the first one with no CRDs and no
//     ClusterProperties (the chart creates both); the stand-ins run the syncer Deployment's
//     container; then helm upgrade --set-file hands every member the kubeconfigs made from
//     every member's reader token;
//   - smoke: a Service exported in the first member is imported in every member, with a
//     derived Service, the mirrored endpoints and a DNS answer through CoreDNS's ServiceAccount;
//   - uninstall: helm uninstall in the first member leaves the CRDs, its ServiceExport and its
//     ClusterProperties, and takes its Secrets, so its reader token is revoked. The other
//     members keep the import and its VIP, and withdraw its endpoints after the member TTL.
func TestHelm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	root := repoRoot(t)
	kubectl := filepath.Join(binDir(t), "kubectl")
	ctx, env, members := startClusterset(t, 3)
	h := newHelm(t, writeContexts(t, env))
	first := members[0]

	image := set("syncer.image.repository=images.invalid/clusterset/clusterset-syncer", "syncer.image.tag=v0.0.0-test")
	t.Run("dry-run", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			values []string
		}{
			{"pull member", image},
			{"hub that is a member", slices.Concat(image, values(noReader, []string{"syncer.mode=hub"}, withHubMember))},
			{"hub member", values(noSyncer, noReader, withHubMember)},
		} {
			t.Run(c.name, func(t *testing.T) {
				manifests, err := h.template(t, releaseNamespace, append(c.values, "--include-crds")...)
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(t.TempDir(), "manifests.yaml")
				if err := os.WriteFile(file, manifests, 0o644); err != nil {
					t.Fatal(err)
				}
				dryRunApply(t, kubectl, first, manifests, "-f", file)
			})
		}
	})

	// The first member starts as a new cluster: no CRDs, so no ClusterProperties either.
	runKubectl(t, kubectl, first.Kubeconfig, "delete", "-k", filepath.Join(root, "deploy", "crds"), "--timeout=2m")
	installValues := slices.Concat(image, set("syncer.memberTTL="+smokeMemberTTL.String()))
	manifests, err := h.template(t, releaseNamespace, installValues...)
	if err != nil {
		t.Fatal(err)
	}
	startStandIns(ctx, t, members, deploymentIn(t, "the chart", manifests))

	helm := func(t *testing.T, m *member, args ...string) {
		out := h.mustRun(t, slices.Concat(args, []string{"-n", releaseNamespace, "--kube-context", m.ID})...)
		t.Logf("%s: helm %s:\n%s", m.ID, strings.Join(args, " "), out)
	}
	ok := t.Run("install", func(t *testing.T) {
		for _, m := range members {
			args := slices.Concat([]string{"install", releaseName, chartDir(t), "--create-namespace", "--wait", "--timeout=2m"}, installValues)
			if m == first {
				args = append(args, set("clusterProperties.clusterID="+m.ID, "clusterProperties.clusterSetID=clusterset-1")...)
			}
			helm(t, m, args...)
		}
		// Every member gets every member's kubeconfig, itself included.
		memberFiles := make([]string, 0, len(members))
		tokens := map[string]*corev1.Secret{}
		for _, m := range members {
			secret := waitToken(ctx, t, m)
			tokens[m.ID] = secret
			file := tokenKubeconfig(t, m, "clusterset-member-reader", string(secret.Data[corev1.ServiceAccountTokenKey]))
			memberFiles = append(memberFiles, "--set-file", "members."+m.ID+"="+file)
		}
		for _, m := range members {
			helm(t, m, slices.Concat([]string{"upgrade", releaseName, chartDir(t), "--reuse-values", "--wait", "--timeout=2m"}, memberFiles)...)
			checkMemberSecrets(ctx, t, m, members)
			// The upgrade keeps the token the token controller wrote, which the other members hold.
			after, err := m.kube.CoreV1().Secrets(releaseNamespace).Get(ctx, tokens[m.ID].Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.UID != tokens[m.ID].UID || string(after.Data[corev1.ServiceAccountTokenKey]) != string(tokens[m.ID].Data[corev1.ServiceAccountTokenKey]) {
				t.Errorf("%s: helm upgrade replaced the reader token Secret or its token", m.ID)
			}
		}
	})
	if !ok {
		return
	}
	var imported map[string]importedService
	if !t.Run("smoke", func(t *testing.T) {
		for _, m := range members {
			if _, err := m.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: smokeNamespace}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// CoreDNS's ServiceAccount, as the cluster's installer creates it; the chart binds it.
			account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: coreDNSAccount, Namespace: metav1.NamespaceSystem}}
			if _, err := m.kube.CoreV1().ServiceAccounts(metav1.NamespaceSystem).Create(ctx, account, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		exportService(ctx, t, first)
		imported = map[string]importedService{}
		for _, m := range members {
			imported[m.ID] = waitImported(ctx, t, m, func(s importedService) error {
				if !slices.Contains(s.endpoints[first.ID], smokeEndpoint) {
					return fmt.Errorf("no endpoint %s from %s", smokeEndpoint, first.ID)
				}
				return nil
			})
			checkResolves(ctx, t, m, smokeNamespace, smokeService)
		}
		checkExportValid(ctx, t, first)
	}) {
		return
	}
	t.Run("uninstall", func(t *testing.T) {
		helm(t, first, "uninstall", releaseName, "--wait", "--timeout=2m")
		checkUninstalled(ctx, t, kubectl, first)
		for _, m := range members[1:] {
			before := imported[m.ID]
			waitImported(ctx, t, m, func(s importedService) error {
				switch {
				case s.importUID != before.importUID || s.serviceUID != before.serviceUID || !slices.Equal(s.ips, before.ips):
					return fmt.Errorf("the import or its derived Service changed: %+v, was %+v", s, before)
				case len(s.endpoints[first.ID]) > 0:
					return fmt.Errorf("%s's endpoints are still mirrored: %q", first.ID, s.endpoints[first.ID])
				}
				return nil
			})
		}
	})
}

// waitToken waits for the token controller to fill m's reader token Secret, and returns it.
func waitToken(ctx context.Context, t *testing.T, m *member) *corev1.Secret {
	var secret *corev1.Secret
	err := wait.PollUntilContextTimeout(ctx, standInPeriod, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		secret, err = m.kube.CoreV1().Secrets(releaseNamespace).Get(ctx, "clusterset-member-reader-token", metav1.GetOptions{})
		return err == nil && len(secret.Data[corev1.ServiceAccountTokenKey]) > 0, nil
	})
	if err != nil {
		t.Fatalf("%s: the member-reader token: %v", m.ID, err)
	}
	return secret
}

// checkMemberSecrets checks that m holds one labelled member Secret per member.
func checkMemberSecrets(ctx context.Context, t *testing.T, m *member, members []*member) {
	list, err := m.kube.CoreV1().Secrets(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "multicluster.clusterset.io/member-kubeconfig=true"})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, s := range list.Items {
		got = append(got, s.Name)
	}
	for _, other := range members {
		want = append(want, "member-"+other.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: member Secrets %q, want %q", m.ID, got, want)
	}
}

// exportService creates the smoke Service in m with one ready endpoint, as the EndpointSlice
// controller would publish it, and exports it.
func exportService(ctx context.Context, t *testing.T, m *member) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: smokeService, Namespace: smokeNamespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := m.kube.CoreV1().Services(smokeNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: smokeService + "-1", Namespace: smokeNamespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: smokeService,
			discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{smokeEndpoint}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := m.kube.DiscoveryV1().EndpointSlices(smokeNamespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: smokeService, Namespace: smokeNamespace}}
	if _, err := m.mcs.MulticlusterV1alpha1().ServiceExports(smokeNamespace).Create(ctx, export, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// importedService is what a member holds for the smoke service: its ServiceImport, the derived
// Service the import names, and the mirrored endpoint addresses by source cluster.
type importedService struct {
	importUID, serviceUID types.UID
	ips                   []string
	endpoints             map[string][]string
}

// waitImported waits until m imports the smoke service, its derived Service's cluster IPs are
// the import's IPs, and check accepts it; it returns what m then holds.
func waitImported(ctx context.Context, t *testing.T, m *member, check func(importedService) error) importedService {
	var got importedService
	var last error
	err := wait.PollUntilContextTimeout(ctx, standInPeriod, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		got, last = readImport(ctx, m)
		if last == nil {
			last = check(got)
		}
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %s/%s: %v", m.ID, smokeNamespace, smokeService, last)
	}
	return got
}

func readImport(ctx context.Context, m *member) (importedService, error) {
	si, err := m.mcs.MulticlusterV1alpha1().ServiceImports(smokeNamespace).Get(ctx, smokeService, metav1.GetOptions{})
	if err != nil {
		return importedService{}, err
	}
	derived := si.Annotations["multicluster.kubernetes.io/derived-service"]
	svc, err := m.kube.CoreV1().Services(smokeNamespace).Get(ctx, derived, metav1.GetOptions{})
	if err != nil {
		return importedService{}, fmt.Errorf("the derived Service %q: %w", derived, err)
	}
	if len(si.Spec.IPs) == 0 || !slices.Equal(si.Spec.IPs, svc.Spec.ClusterIPs) {
		return importedService{}, fmt.Errorf("import IPs %q, derived Service %s cluster IPs %q", si.Spec.IPs, derived, svc.Spec.ClusterIPs)
	}
	list, err := m.kube.DiscoveryV1().EndpointSlices(smokeNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{mcsv1alpha1.LabelServiceName: smokeService, discoveryv1.LabelServiceName: derived}.String(),
	})
	if err != nil {
		return importedService{}, err
	}
	got := importedService{importUID: si.UID, serviceUID: svc.UID, ips: si.Spec.IPs, endpoints: map[string][]string{}}
	for _, s := range list.Items {
		source := s.Labels[mcsv1alpha1.LabelSourceCluster]
		for _, e := range s.Endpoints {
			got.endpoints[source] = append(got.endpoints[source], e.Addresses...)
		}
	}
	return got, nil
}

// checkExportValid checks that the syncer of the exporting member wrote the export's status.
func checkExportValid(ctx context.Context, t *testing.T, m *member) {
	se, err := m.mcs.MulticlusterV1alpha1().ServiceExports(smokeNamespace).Get(ctx, smokeService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range se.Status.Conditions {
		if c.Type == string(mcsv1alpha1.ServiceExportConditionValid) {
			if c.Status != metav1.ConditionTrue {
				t.Errorf("%s: export condition %+v", m.ID, c)
			}
			return
		}
	}
	t.Errorf("%s: the export has no Valid condition: %+v", m.ID, se.Status.Conditions)
}

// checkUninstalled checks what helm uninstall left in m: the CRDs (Helm never deletes those in a
// chart's crds/), the ServiceExport with them, and the ClusterProperties (kept by their
// resource policy); and what it took: the syncer and every Secret of the release.
func checkUninstalled(ctx context.Context, t *testing.T, kubectl string, m *member) {
	for _, crd := range []string{"serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io", "clusterproperties.about.k8s.io"} {
		runKubectl(t, kubectl, m.Kubeconfig, "get", "crd", crd)
	}
	for _, property := range []string{localenv.ClusterIDProperty, localenv.ClusterSetProperty} {
		runKubectl(t, kubectl, m.Kubeconfig, "get", "clusterproperties.about.k8s.io", property)
	}
	if _, err := m.mcs.MulticlusterV1alpha1().ServiceExports(smokeNamespace).Get(ctx, smokeService, metav1.GetOptions{}); err != nil {
		t.Errorf("%s: the ServiceExport after helm uninstall: %v", m.ID, err)
	}
	if _, err := m.kube.AppsV1().Deployments(releaseNamespace).Get(ctx, "clusterset-syncer", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s: the syncer Deployment after helm uninstall: %v", m.ID, err)
	}
	secrets, err := m.kube.CoreV1().Secrets(releaseNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		t.Errorf("%s: Secret %s left after helm uninstall", m.ID, s.Name)
	}
}
