// Package web is what the hub's browser pages share: the portal
// (web/portal) for customers and warehouses, and the operator console.
// It holds no page of its own beyond the layout: server-side sessions with
// their cookie, CSRF tokens checked on every state-changing request,
// sign-in throttling per user and per address, the Principal a session acts
// as, html/template rendering with one layout, and the embedded CSS and
// script. Pages call the same service code as the HTTP API; nothing here
// decides an order or reads a stream.
//
// An application (the portal, the console) builds its Pages from its own
// embedded templates, a Sessions store with its own cookie name and path,
// and mounts Assets under its prefix:
//
//	pages, _ := web.NewPages(templates, "templates/*.html", nil)
//	sessions := web.NewSessions(web.SessionConfig{Cookie: "xd_portal", Path: "/portal"})
//	mux.Handle("/portal/assets/", web.Assets("/portal/assets/"))
//	mux.Handle("/portal/orders", sessions.Require(orders, "/portal/signin"))
package web
