package deploy

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/clusterset/clusterset/syncer/app"
)

// A localenv cluster is an apiserver and nothing else. The guide waits for what a real
// cluster's controllers and kubelets do, so these stand-ins do it, per member, in the
// background, as localenv's MakePodReady plays the kubelet for one Pod:
//   - the token controller fills service-account-token Secrets;
//   - the Deployment controller reports every Deployment rolled out;
//   - the kubelet runs the syncer Deployment's container, in-process, with the
//     Deployment's arguments, namespace and ServiceAccount, restarts it when it exits, and
//     stops it when the Deployment is deleted.
//
// CoreDNS Pods are not run: the live Corefile listens on port 53 with in-cluster
// credentials. The "resolve" subtest runs the plugin with CoreDNS's ServiceAccount instead.

// standInPeriod is how often the stand-ins look at their cluster.
const standInPeriod = 200 * time.Millisecond

// objectRef names the Deployment whose container the kubelet stand-in runs.
type objectRef struct{ namespace, name string }

// syncerDeployment finds the syncer's Deployment in the deploy/syncer base.
func syncerDeployment(t *testing.T, kubectl, base string) objectRef {
	return deploymentIn(t, base, runKubectl(t, kubectl, "", "kustomize", base))
}

// deploymentIn finds the one Deployment of manifests rendered from source.
func deploymentIn(t *testing.T, source string, manifests []byte) objectRef {
	objs, err := decodeAll(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var found []objectRef
	for _, obj := range objs {
		if obj.GetAPIVersion() == "apps/v1" && obj.GetKind() == "Deployment" {
			found = append(found, objectRef{obj.GetNamespace(), obj.GetName()})
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one Deployment, found %v", source, found)
	}
	return found[0]
}

// startStandIns runs the stand-ins of every member until ctx ends; the test waits for them,
// and the syncers they run, to finish on cleanup.
func startStandIns(ctx context.Context, t *testing.T, members []*member, syncer objectRef) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for _, m := range members {
		logger := klog.FromContext(ctx).WithValues("cluster", m.ID)
		ctx := klog.NewContext(ctx, logger)
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				if err := fillTokens(ctx, m); err != nil && ctx.Err() == nil {
					logger.Error(err, "token controller stand-in")
				}
			}, standInPeriod)
		})
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				if err := completeRollouts(ctx, m); err != nil && ctx.Err() == nil {
					logger.Error(err, "Deployment controller stand-in")
				}
			}, standInPeriod)
		})
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { runPod(ctx, m, syncer) }, standInPeriod)
		})
	}
}

// fillTokens does the token controller's job for legacy service-account-token Secrets: it
// writes a token of the named ServiceAccount, valid while the Secret exists (bound to it),
// with the cluster's CA and the namespace.
func fillTokens(ctx context.Context, m *member) error {
	secrets, err := m.kube.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String(),
	})
	if err != nil {
		return err
	}
	for _, s := range secrets.Items {
		if len(s.Data[corev1.ServiceAccountTokenKey]) > 0 {
			continue
		}
		saName := s.Annotations[corev1.ServiceAccountNameKey]
		sa, err := m.kube.CoreV1().ServiceAccounts(s.Namespace).Get(ctx, saName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		tr, err := m.kube.CoreV1().ServiceAccounts(s.Namespace).CreateToken(ctx, saName, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{
				ExpirationSeconds: ptr.To[int64](365 * 24 * 3600),
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: s.Name, UID: s.UID},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		s.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
		s.Data = map[string][]byte{
			corev1.ServiceAccountTokenKey:     []byte(tr.Status.Token),
			corev1.ServiceAccountRootCAKey:    m.Config.CAData,
			corev1.ServiceAccountNamespaceKey: []byte(s.Namespace),
		}
		if _, err := m.kube.CoreV1().Secrets(s.Namespace).Update(ctx, &s, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// completeRollouts does the Deployment controller's and the kubelets' job, in outcome only:
// every Deployment whose spec changed reports all its replicas updated and available, which
// is what `kubectl rollout status` waits for.
func completeRollouts(ctx context.Context, m *member) error {
	list, err := m.kube.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range list.Items {
		if d.Status.ObservedGeneration >= d.Generation {
			continue
		}
		replicas := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation,
			Replicas:           replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			},
		}
		if _, err := m.kube.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, &d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// runPod plays the kubelet for one Pod of the syncer's Deployment, once: while the Deployment
// exists it runs the container in-process (containerOptions) until the container exits or the
// Deployment is deleted. Called again after an exit, it restarts the container, as the
// kubelet does with restartPolicy Always (a syncer started before its cluster's
// ClusterProperties exist exits, and starts again).
func runPod(ctx context.Context, m *member, ref objectRef) {
	logger := klog.FromContext(ctx)
	o, err := containerOptions(ctx, m, ref)
	if err != nil || o == nil {
		if err != nil && ctx.Err() == nil {
			logger.Error(err, "kubelet stand-in")
		}
		return
	}
	podCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // the Pod goes with its Deployment
		_ = wait.PollUntilContextCancel(podCtx, standInPeriod, false, func(ctx context.Context) (bool, error) {
			_, err := m.kube.AppsV1().Deployments(ref.namespace).Get(ctx, ref.name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		stop()
	}()
	logger.Info("Running the syncer container in-process", "deployment", ref.namespace+"/"+ref.name)
	if err := app.Run(podCtx, *o); err != nil {
		logger.Error(err, "The syncer container exited")
	}
}

// containerOptions returns the options of the syncer Deployment's container, as its Pod
// would run it: the container's arguments, POD_NAMESPACE from the downward API, and the
// credentials of the Pod's ServiceAccount. It returns nil, nil while the Deployment does not
// exist. The HTTP servers stay off: the test process runs several syncers and must not bind
// public ports.
func containerOptions(ctx context.Context, m *member, ref objectRef) (*app.Options, error) {
	d, err := m.kube.AppsV1().Deployments(ref.namespace).Get(ctx, ref.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.Containers[0].Command) > 0 {
		return nil, fmt.Errorf("%s/%s: the stand-in runs one container with the image's entrypoint", ref.namespace, ref.name)
	}
	c := pod.Containers[0]
	o := app.DefaultOptions()
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			o.Namespace = d.Namespace
		}
	}
	fs := flag.NewFlagSet("clusterset-syncer", flag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(c.Args); err != nil {
		return nil, fmt.Errorf("%s/%s: the container's arguments: %w", ref.namespace, ref.name, err)
	}
	o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
	config, err := serviceAccountConfig(ctx, m, d.Namespace, pod.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	o.LocalConfig = config
	return &o, nil
}

// serviceAccountConfig returns client access as a ServiceAccount, through a TokenRequest,
// as a Pod running under it gets.
func serviceAccountConfig(ctx context.Context, m *member, namespace, name string) (*rest.Config, error) {
	tr, err := m.kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	config := rest.AnonymousClientConfig(m.Config)
	config.BearerToken = tr.Status.Token
	return config, nil
}
