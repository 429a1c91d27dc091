// Package recentwrites overlays a controller's own recent writes on an informer cache.
//
// A reconcile can run before the watch event of the write it just made has reached the
// informer. Reading the plain cache it would then create the object again (AlreadyExists),
// update it from a stale resourceVersion (Conflict) or delete it twice: wasted writes that
// break "a resync makes zero writes". The overlay remembers each written object until the
// informer has caught up with it (same or newer resourceVersion, or its deletion), or until a
// TTL passes in case that event never comes.
package recentwrites

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// Object is what the overlay stores: a typed API object.
type Object interface {
	runtime.Object
	metav1.Object
}

// Store is an informer indexer seen through the overlay of own writes.
type Store[T Object] struct {
	indexer cache.Indexer
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]entry[T]
	// pending indexes the own creations and updates in entries by index name and value,
	// so that ByIndex looks at the matching ones only.
	pending map[string]map[string]map[string]bool
}

// entry is one own write. A delete has deleted set and keeps the deleted object's UID and
// resourceVersion, so that the stale cached copy can be hidden.
type entry[T Object] struct {
	obj     T
	deleted bool
	uid     types.UID
	rv      uint64
	expires time.Time
	// values are obj's index values, by index name.
	values map[string][]string
}

// New wraps indexer. ttl bounds how long an own write is trusted over the informer.
func New[T Object](indexer cache.Indexer, ttl time.Duration) *Store[T] {
	return &Store[T]{indexer: indexer, ttl: ttl, now: time.Now, entries: map[string]entry[T]{},
		pending: map[string]map[string]map[string]bool{}}
}

// Get returns the freshest known object stored under key (namespace/name).
func (s *Store[T]) Get(key string) (T, bool) {
	var zero T
	cached, exists, err := s.indexer.GetByKey(key)
	if err != nil {
		return zero, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var obj T
	if exists {
		obj = cached.(T)
	}
	return s.resolve(key, obj, exists)
}

// ByIndex returns the freshest known objects whose index value matches, including own
// creations the informer has not seen yet.
func (s *Store[T]) ByIndex(index, value string) []T {
	keys, err := s.indexer.IndexKeys(index, value)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(keys))
	var out []T
	for _, key := range keys {
		seen[key] = true
		cached, exists, err := s.indexer.GetByKey(key)
		if err != nil || !exists {
			continue
		}
		if obj, ok := s.resolve(key, cached.(T), true); ok {
			out = append(out, obj)
		}
	}
	for key := range s.pending[index][value] {
		if seen[key] {
			continue
		}
		if obj, ok := s.resolve(key, s.entries[key].obj, false); ok {
			out = append(out, obj)
		}
	}
	return out
}

// put records e under key, replacing any entry there. Callers hold s.mu.
func (s *Store[T]) put(key string, e entry[T]) {
	s.drop(key)
	if !e.deleted {
		e.values = map[string][]string{}
		for name, indexFunc := range s.indexer.GetIndexers() {
			values, err := indexFunc(e.obj)
			if err != nil {
				continue
			}
			e.values[name] = values
			for _, v := range values {
				if s.pending[name] == nil {
					s.pending[name] = map[string]map[string]bool{}
				}
				if s.pending[name][v] == nil {
					s.pending[name][v] = map[string]bool{}
				}
				s.pending[name][v][key] = true
			}
		}
	}
	s.entries[key] = e
}

// drop forgets the entry under key. Callers hold s.mu.
func (s *Store[T]) drop(key string) {
	for name, values := range s.entries[key].values {
		for _, v := range values {
			delete(s.pending[name][v], key)
			if len(s.pending[name][v]) == 0 {
				delete(s.pending[name], v)
			}
		}
	}
	delete(s.entries, key)
}

// resolve decides between the cached object (if exists) and the own write under key.
// Callers hold s.mu.
func (s *Store[T]) resolve(key string, cached T, exists bool) (T, bool) {
	var zero T
	e, ok := s.entries[key]
	if !ok {
		return cached, exists
	}
	if s.now().After(e.expires) {
		s.drop(key)
		return cached, exists
	}
	if e.deleted {
		if exists && cached.GetUID() == e.uid && version(cached) <= e.rv {
			return zero, false // the informer has not seen our delete yet
		}
		s.drop(key) // gone from the cache, or replaced by a newer object
		return cached, exists
	}
	if exists && version(cached) >= e.rv {
		s.drop(key)
		return cached, true
	}
	return e.obj, true
}

// Wrote records an object returned by a create or update.
func (s *Store[T]) Wrote(obj T) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, entry[T]{obj: obj, uid: obj.GetUID(), rv: version(obj), expires: s.now().Add(s.ttl)})
}

// Deleted records a successful delete of obj (the copy that was deleted).
func (s *Store[T]) Deleted(obj T) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, entry[T]{deleted: true, uid: obj.GetUID(), rv: version(obj), expires: s.now().Add(s.ttl)})
}

// Observe is called from the informer's event handlers. It drops own writes the informer has
// caught up with, which keeps the overlay small, and reports whether the event is the echo of
// an own write (the same object at the resourceVersion of an own write or an older one, or the
// deletion the syncer made), which the caller need not react to.
func (s *Store[T]) Observe(obj any, deleted bool) (own bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return false
	}
	rv, _ := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
	switch {
	case deleted && e.uid == m.GetUID():
		s.drop(key)
		return e.deleted
	case deleted && rv >= e.rv:
		s.drop(key)
	case !deleted && !e.deleted && rv >= e.rv:
		s.drop(key)
		return rv == e.rv
	case !deleted && !e.deleted && e.uid == m.GetUID():
		// An older state of an object the syncer has written since (a create followed by a
		// status update): nothing to react to, the overlay already holds the newer one.
		return true
	}
	return false
}

// Len is the number of own writes not yet seen by the informer.
func (s *Store[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// version parses a resourceVersion; etcd's are integers increasing per resource type.
func version(obj Object) uint64 {
	v, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	return v
}
