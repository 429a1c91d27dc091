package app

import (
	"context"
	"testing"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// memoryLock is a resourcelock.Interface over one in-memory record.
type memoryLock struct {
	identity string
	record   resourcelock.LeaderElectionRecord
}

func (l *memoryLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r := l.record
	return &r, nil, nil
}
func (l *memoryLock) Create(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	l.record = r
	return nil
}
func (l *memoryLock) Update(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	l.record = r
	return nil
}
func (l *memoryLock) RecordEvent(string) {}
func (l *memoryLock) Identity() string   { return l.identity }
func (l *memoryLock) Describe() string   { return "memory" }

func TestAcquiredLock(t *testing.T) {
	inner := &memoryLock{identity: "me"}
	lock := &acquiredLock{Interface: inner}
	ctx := context.Background()
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "other"})
	if lock.acquired {
		t.Error("acquired after writing another holder")
	}
	_ = lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
	if !lock.acquired {
		t.Error("not acquired after creating the lease as holder")
	}
	_ = lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: ""})
	if !lock.acquired {
		t.Error("a release forgot that the lease was held")
	}
}

func TestReleaseLease(t *testing.T) {
	tests := []struct {
		name, holder string
		wantHolder   string
		wantDuration int
	}{
		{"held: released", "me", "", 1},
		{"taken over: left alone", "other", "other", 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lock := &memoryLock{identity: "me", record: resourcelock.LeaderElectionRecord{HolderIdentity: tt.holder, LeaseDurationSeconds: 15, LeaderTransitions: 3}}
			if err := releaseLease(context.Background(), lock, "me"); err != nil {
				t.Fatal(err)
			}
			if r := lock.record; r.HolderIdentity != tt.wantHolder || r.LeaseDurationSeconds != tt.wantDuration || r.LeaderTransitions != 3 {
				t.Errorf("record %+v, want holder %q for %ds, 3 transitions", r, tt.wantHolder, tt.wantDuration)
			}
		})
	}
}
