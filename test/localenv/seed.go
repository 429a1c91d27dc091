package localenv

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/clusterset/clusterset/deploy/crds"
)

var (
	crdResource      = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	propertyResource = schema.GroupVersionResource{Group: "about.k8s.io", Version: "v1alpha1", Resource: "clusterproperties"}
)

// Well-known ClusterProperty names (KEP-2149).
const (
	ClusterIDProperty  = "cluster.clusterset.k8s.io"
	ClusterSetProperty = "clusterset.k8s.io"
)

// seed installs the CRDs and sets the cluster's ID and clusterset properties.
func (c *Cluster) seed(ctx context.Context) error {
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	// Create every CRD before waiting, so their establishment overlaps.
	var names []string
	for _, doc := range crds.All() {
		crd := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &crd.Object); err != nil {
			return fmt.Errorf("decode embedded CRD: %w", err)
		}
		if _, err := client.Resource(crdResource).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	for _, name := range names {
		if err := waitEstablished(ctx, client, name); err != nil {
			return err
		}
	}
	for name, value := range map[string]string{ClusterIDProperty: c.ID, ClusterSetProperty: c.env.opts.ClusterSetID} {
		if err := SetClusterProperty(ctx, client, name, value); err != nil {
			return err
		}
	}
	// The EndpointSlice controller skips Pods whose Node it cannot find, so
	// every cluster has one Node for MakePodReady to bind Pods to.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   c.NodeName,
		Labels: map[string]string{corev1.LabelTopologyZone: c.ID + "-zone"},
	}}
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	return err
}

func waitEstablished(ctx context.Context, client dynamic.Interface, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crd, err := client.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w", name, err)
	}
	return nil
}

// SetClusterProperty creates or updates a ClusterProperty. Tests use it to
// move a cluster to another clusterset or to clear its ID.
func SetClusterProperty(ctx context.Context, client dynamic.Interface, name, value string) error {
	res := client.Resource(propertyResource)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj = &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "about.k8s.io/v1alpha1",
				"kind":       "ClusterProperty",
				"metadata":   map[string]any{"name": name},
				"spec":       map[string]any{"value": value},
			}}
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(obj.Object, value, "spec", "value"); err != nil {
			return err
		}
		_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	})
}

// MakePodReady plays the scheduler and the kubelet for an existing Pod: it
// binds the Pod to the cluster's Node if unscheduled and sets its status to
// Running and Ready with the given IP, so that the EndpointSlice controller
// publishes it.
func (c *Cluster) MakePodReady(ctx context.Context, namespace, name, ip string) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	pods := client.CoreV1().Pods(namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Spec.NodeName == "" {
			binding := &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Target:     corev1.ObjectReference{Kind: "Node", Name: c.NodeName},
			}
			if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("bind pod %s/%s to %s: %w", namespace, name, c.NodeName, err)
			}
			if pod, err = pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		now := metav1.Now()
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIP = ip
		pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		pod.Status.HostIP = "127.0.0.1"
		pod.Status.StartTime = &now
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
}
