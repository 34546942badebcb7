// Command watermill measures crossdock against a hand-built Watermill
// pipeline doing the same hops, in one sitting on one machine, so that the
// ratio between them means something (docs/performance.md, "Against a
// hand-built pipeline").
//
// The pipeline is what an engineer would write with watermill-nats in an
// afternoon: a router with three handlers, intake → lane, lane → decision,
// decision → two outputs (the acceptance for the customer and the
// fulfilment request for the warehouse), 64 subscribers per handler, every
// hop a JetStream stream with message-id deduplication: five stored writes
// per order, as crossdock's until 2026-12-02 (crossdock now stores four: its
// router hands an order to the order service of its process rather than
// storing it in a lane, and one of the four is the order's state, which
// this pipeline does not keep), and no schema validation, no tiers, no
// order state and no accounts.
//
// It lives in a module of its own so that crossdock does not depend on
// Watermill. Run it from this directory:
//
//	go run . -orders 20000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bench"
	"github.com/crossdock/crossdock/services/accounts"
)

func main() {
	orders := flag.Int("orders", 20000, "orders each pipeline takes")
	workers := flag.Int("workers", 64, "Watermill subscribers per handler")
	window := flag.Int("window", 2000, "most orders sent but not yet answered")
	flag.Parse()
	if err := run(*orders, *workers, *window); err != nil {
		fmt.Fprintln(os.Stderr, "watermill:", err)
		os.Exit(1)
	}
}

func run(orders, workers, window int) error {
	ctx := context.Background()
	fmt.Printf("%d strategic orders over NATS, as fast as each takes them, answered on the customer's subject\n", orders)

	rep, err := bench.Run(ctx, bench.Config{
		Scenario: "throughput", Transport: "nats", Count: orders, Duration: time.Hour,
		Tiers: []accounts.Tier{accounts.Strategic}, Window: window, Baseline: time.Second,
	})
	if err != nil {
		return fmt.Errorf("crossdock: %w", err)
	}
	if rep.Total.Lost > 0 || rep.SendErrors > 0 {
		return fmt.Errorf("crossdock lost %d orders (%d send errors: %s)", rep.Total.Lost, rep.SendErrors, rep.FirstError)
	}
	fmt.Printf("crossdock: %8.0f orders/s  p50 %v  p99 %v  (raw publishes %.0f/s)\n",
		rep.Total.OrdersPerSec, rep.Total.Latency.P50, rep.Total.Latency.P99, rep.Raw.PublishRate)

	wm, err := pipeline(ctx, orders, workers, window)
	if err != nil {
		return fmt.Errorf("watermill: %w", err)
	}
	fmt.Printf("watermill: %8.0f orders/s\n", wm)
	fmt.Printf("ratio crossdock/watermill: %.2f\n", rep.Total.OrdersPerSec/wm)
	return nil
}

// Order is the pipeline's order.placed: the fields a decision reads.
type Order struct {
	PONumber      string `json:"po_number"`
	ShipTo        string `json:"ship_to"`
	RequestedDate string `json:"requested_date"`
	Lines         []struct {
		Line     int     `json:"line"`
		GTIN     string  `json:"gtin"`
		Quantity float64 `json:"quantity"`
		Unit     string  `json:"unit"`
	} `json:"lines"`
}

// Accepted is the decision's answer.
type Accepted struct {
	Order
	OrderID   string `json:"order_id"`
	Warehouse string `json:"warehouse"`
}

// pipeline runs the Watermill pipeline on an embedded server of its own and
// returns the orders per second from the first publish to the last answer.
func pipeline(ctx context.Context, orders, workers, window int) (float64, error) {
	dir, err := os.MkdirTemp("", "watermill-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return 0, err
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return 0, errors.New("nats server not ready")
	}
	url := ns.ClientURL()

	logger := watermill.NewStdLogger(os.Getenv("WATERMILL_DEBUG") != "", false)
	js := wmnats.JetStreamConfig{AutoProvision: true, TrackMsgId: true, DurablePrefix: "wm",
		DurableCalculator: func(prefix, topic string) string { return prefix + "-" + topic }}
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: url, Marshaler: &wmnats.NATSMarshaler{}, JetStream: js}, logger)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
		URL: url, QueueGroupPrefix: "wm", SubscribersCount: workers, AckWaitTimeout: 30 * time.Second,
		CloseTimeout: 5 * time.Second, SubscribeTimeout: 10 * time.Second, Unmarshaler: &wmnats.NATSMarshaler{}, JetStream: js,
	}, logger)
	if err != nil {
		return 0, err
	}
	defer sub.Close()

	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		return 0, err
	}
	router.AddHandler("route", "wm-in", sub, "wm-lane", pub, func(m *message.Message) ([]*message.Message, error) {
		return []*message.Message{message.NewMessage(m.UUID, m.Payload)}, nil
	})
	router.AddHandler("decide", "wm-lane", sub, "wm-decided", pub, func(m *message.Message) ([]*message.Message, error) {
		var o Order
		if err := json.Unmarshal(m.Payload, &o); err != nil {
			return nil, err
		}
		if len(o.Lines) == 0 || o.PONumber == "" {
			return nil, errors.New("an order needs a PO number and lines")
		}
		b, err := json.Marshal(Accepted{Order: o, OrderID: "o-" + m.UUID, Warehouse: "dc-east"})
		if err != nil {
			return nil, err
		}
		return []*message.Message{message.NewMessage("accepted-"+m.UUID, b)}, nil
	})
	router.AddHandler("fan-out", "wm-decided", sub, "wm-out", pub, func(m *message.Message) ([]*message.Message, error) {
		if err := pub.Publish("wm-wh", message.NewMessage("fulfil-"+m.UUID, m.Payload)); err != nil {
			return nil, err
		}
		return []*message.Message{message.NewMessage("out-"+m.UUID, m.Payload)}, nil
	})
	go func() { _ = router.Run(ctx) }()
	defer router.Close()
	<-router.Running()

	// The customer's side: answers on the out subject, and a window of
	// orders in flight, as crossdock's bench sends them.
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	slots := make(chan struct{}, window)
	var answered atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	if _, err := nc.Subscribe("wm-out", func(*nats.Msg) {
		<-slots
		if answered.Add(1) == int64(orders) {
			once.Do(func() { close(done) })
		}
	}); err != nil {
		return 0, err
	}
	jsc, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	// Warm up: streams and consumers exist once one order went through.
	slots <- struct{}{}
	if err := publishOrder(jsc, "warm-up"); err != nil {
		return 0, err
	}
	select {
	case <-jsc.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		return 0, errors.New("the warm-up order was not stored in 10s")
	}
	for deadline := time.Now().Add(30 * time.Second); answered.Load() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			var counts []string
			for name := range jsc.StreamNames(ctx).Name() {
				st, _ := jsc.Stream(ctx, name)
				ci, _ := st.Info(ctx)
				counts = append(counts, fmt.Sprintf("%s=%d", name, ci.State.Msgs))
			}
			return 0, fmt.Errorf("the warm-up order was not answered in 30s (streams %v)", counts)
		}
	}
	<-time.After(500 * time.Millisecond)
	answered.Store(0)

	start := time.Now()
	for i := range orders {
		slots <- struct{}{}
		if err := publishOrder(jsc, fmt.Sprintf("PO-%d", i)); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("%d of %d orders answered after two minutes", answered.Load(), orders)
	}
	return float64(orders) / time.Since(start).Seconds(), nil
}

func publishOrder(js jetstream.JetStream, po string) error {
	body := fmt.Appendf(nil, `{"po_number":%q,"ship_to":"0614141000005","requested_date":"2030-01-15","lines":[{"line":1,"gtin":"00614141123452","quantity":24,"unit":"EA"}]}`, po)
	m := message.NewMessage(watermill.NewUUID(), body)
	nm, err := (&wmnats.NATSMarshaler{}).Marshal("wm-in", m)
	if err != nil {
		return err
	}
	_, err = js.PublishMsgAsync(nm, jetstream.WithMsgID(m.UUID))
	return err
}
