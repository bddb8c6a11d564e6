package race

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// floorContender is the least a lease lock on DynamoDB can send, written
// straight on aws-sdk-go-v2: one conditional PutItem per acquire, one
// conditional UpdateItem per heartbeat and per release, one consistent
// GetItem per poll while waiting, and a takeover after the same version
// was seen for a whole lease. Its heartbeats are the plain loop: one
// goroutine per lock, one write per period. No fencing counter, no
// ambiguity handling, no guarded writes: it is a floor, not a library.
type floorContender struct {
	db              *dynamodb.Client
	table, owner    string
	lease, hb, poll time.Duration
	leaseMillis     string
	mu              sync.Mutex
	held            map[*floorHeld]struct{}
	wg              sync.WaitGroup
}

func newFloor(s Settings) (Contender, error) {
	return &floorContender{db: s.DB, table: s.Table, owner: s.Owner, lease: s.Lease, hb: s.Heartbeat,
		poll: s.Poll, leaseMillis: strconv.FormatInt(s.Lease.Milliseconds(), 10),
		held: map[*floorHeld]struct{}{}}, nil
}

func newVersion() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func conditionFailed(err error) bool {
	return errors.As(err, new(*types.ConditionalCheckFailedException))
}

// put writes a new lease on key: on a free key (absent or released) when
// expect is "", else over the record whose version is expect.
func (f *floorContender) put(ctx context.Context, key, version, expect string) error {
	in := &dynamodb.PutItemInput{
		TableName: aws.String(f.table),
		Item: map[string]types.AttributeValue{
			"key":                 &types.AttributeValueMemberS{Value: key},
			"ownerName":           &types.AttributeValueMemberS{Value: f.owner},
			"leaseDuration":       &types.AttributeValueMemberS{Value: f.leaseMillis},
			"recordVersionNumber": &types.AttributeValueMemberS{Value: version},
		},
	}
	if expect == "" {
		in.ConditionExpression = aws.String("attribute_not_exists(#k) OR isReleased = :one")
		in.ExpressionAttributeNames = map[string]string{"#k": "key"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":one": &types.AttributeValueMemberS{Value: "1"}}
	} else {
		in.ConditionExpression = aws.String("recordVersionNumber = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: expect}}
	}
	_, err := f.db.PutItem(ctx, in)
	return err
}

// update replaces the version of key's record from old to version, and
// marks it released when release is set.
func (f *floorContender) update(ctx context.Context, key, old, version string, release bool) error {
	set := "SET recordVersionNumber = :n"
	vals := map[string]types.AttributeValue{
		":n": &types.AttributeValueMemberS{Value: version},
		":v": &types.AttributeValueMemberS{Value: old},
	}
	if release {
		set += ", isReleased = :one"
		vals[":one"] = &types.AttributeValueMemberS{Value: "1"}
	}
	_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(f.table),
		Key:                       map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: key}},
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("recordVersionNumber = :v"),
		ExpressionAttributeValues: vals,
	})
	return err
}

func (f *floorContender) TryAcquire(ctx context.Context, key string) (Held, error) {
	v, sent := newVersion(), time.Now()
	err := f.put(ctx, key, v, "")
	if conditionFailed(err) {
		return nil, errors.Join(ErrBusy, err)
	}
	if err != nil {
		return nil, err
	}
	return f.hold(key, v, sent), nil
}

func (f *floorContender) Acquire(ctx context.Context, key string) (Held, error) {
	h, err := f.TryAcquire(ctx, key)
	if !errors.Is(err, ErrBusy) {
		return h, err
	}
	// Read the record at once, to start watching its version, then once
	// per poll.
	var watched string
	var since time.Time
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(f.table),
			Key:            map[string]types.AttributeValue{"key": &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, err
		}
		expect := ""
		if len(out.Item) > 0 && out.Item["isReleased"] == nil {
			rv, _ := out.Item["recordVersionNumber"].(*types.AttributeValueMemberS)
			if rv == nil {
				return nil, errors.New("race: lock record without recordVersionNumber")
			}
			if rv.Value != watched {
				watched, since = rv.Value, time.Now()
				continue
			}
			if time.Since(since) < f.lease {
				continue
			}
			expect = watched // the same version for a whole lease: its holder is gone
		}
		v, sent := newVersion(), time.Now()
		err = f.put(ctx, key, v, expect)
		if err == nil {
			return f.hold(key, v, sent), nil
		}
		if !conditionFailed(err) {
			return nil, err
		}
	}
}

func (f *floorContender) hold(key, version string, sent time.Time) *floorHeld {
	h := &floorHeld{f: f, key: key, version: version, lastSent: sent, stop: make(chan struct{})}
	f.mu.Lock()
	f.held[h] = struct{}{}
	f.mu.Unlock()
	if f.hb > 0 {
		f.wg.Go(h.loop)
	}
	return h
}

func (f *floorContender) Close(ctx context.Context) error {
	f.mu.Lock()
	held := make([]*floorHeld, 0, len(f.held))
	for h := range f.held {
		held = append(held, h)
	}
	f.mu.Unlock()
	var errs []error
	for _, h := range held {
		if err := h.Release(ctx); err != nil && !h.Lost() {
			errs = append(errs, err)
		}
	}
	f.wg.Wait()
	return errors.Join(errs...)
}

// floorHeld is one lock of the floor. Its lease runs one lease from the
// moment it sent its last confirmed write; it reports the lock lost when a
// renewal is refused or is not confirmed within that lease.
type floorHeld struct {
	f        *floorContender
	key      string
	stop     chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex // serialises writes
	version  string
	lastSent time.Time
	lost     atomic.Bool // read without mu: a write may hold mu for up to a lease
	released bool
}

func (h *floorHeld) loop() {
	t := time.NewTicker(h.f.hb)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		if err := h.Heartbeat(context.Background()); err != nil && h.Lost() {
			return
		}
	}
}

var errFloorLost = errors.New("race: floor lock lost")

func (h *floorHeld) Heartbeat(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.write(ctx, false)
}

// write renews (or releases) the lease; h.mu is held.
func (h *floorHeld) write(ctx context.Context, release bool) error {
	if h.lost.Load() || h.released {
		return errFloorLost
	}
	deadline := h.lastSent.Add(h.f.lease)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	v, sent := newVersion(), time.Now()
	err := h.f.update(ctx, h.key, h.version, v, release)
	switch {
	case err == nil && time.Now().Before(deadline):
		h.version, h.lastSent = v, sent
		h.released = release
		return nil
	case err == nil || conditionFailed(err) || !time.Now().Before(deadline):
		h.lost.Store(true) // confirmed too late, refused, or the lease ran out meanwhile
		return errors.Join(errFloorLost, err)
	}
	return err
}

func (h *floorHeld) Release(ctx context.Context) error {
	h.stopOnce.Do(func() { close(h.stop) })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return nil
	}
	err := h.write(ctx, true)
	h.f.mu.Lock()
	delete(h.f.held, h)
	h.f.mu.Unlock()
	return err
}

func (h *floorHeld) Lost() bool { return h.lost.Load() }
