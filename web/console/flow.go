package console

import (
	"encoding/json"
	"html/template"
	"net/http"

	"github.com/crossdock/crossdock/flow"
)

// flowView is the flow page: the snapshot and its charts.
type flowView struct {
	flow.Snapshot
	TierChart    template.HTML
	LaneChart    template.HTML
	ChannelChart template.HTML
	Breaching    bool
	Stalled      []flow.Consumer // durable consumers with work and an ack lag over 30 s
}

func (c *Console) flowPage(w http.ResponseWriter, r *http.Request) {
	s := c.cfg.Flow.Snapshot()
	v := flowView{Snapshot: s}
	var tiers, lanes, channels []Line
	for _, t := range s.Tiers {
		tiers = append(tiers, Line{Label: string(t.Tier), Class: "tier-" + string(t.Tier), Values: t.Series})
		if t.SLO != nil && len(t.SLO.Breaches) > 0 {
			v.Breaching = true
		}
	}
	for _, l := range s.Lanes {
		lanes = append(lanes, Line{Label: l.Name, Class: "lane-" + l.Name, Values: l.Series})
	}
	for _, ch := range s.Channels {
		channels = append(channels, Line{Label: ch.Name, Class: "channel-" + ch.Name, Values: ch.Series})
	}
	v.TierChart = chart("Events per second by tier", "events/s", tiers, 720, 220)
	v.LaneChart = chart("Events per second by lane", "events/s", lanes, 350, 160)
	v.ChannelChart = chart("Events in per second by channel", "events/s", channels, 350, 160)
	for _, co := range s.Consumers {
		if co.AckLag > 30 {
			v.Stalled = append(v.Stalled, co)
		}
	}
	c.render(w, r, http.StatusOK, "flow", "Flow", v, Base+"/")
}

// flowJSON is the snapshot the flow page's script may read (and anyone
// signed in): the same figures as /v1/admin/flow.
func (c *Console) flowJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c.cfg.Flow.Snapshot())
}
