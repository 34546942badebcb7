package portal_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/web/webtest"
)

// password is every test user's.
const password = "portal-test-password"

// passwordHash is hashed once per test binary (Argon2id costs ~30 ms).
var passwordHash = sync.OnceValue(func() string {
	h, err := accounts.HashPassword(password)
	if err != nil {
		panic(err)
	}
	return h
})

// testUsers are the portal users of the test accounts file, by holder:
// a buyer and a viewer of acme, umbrella's buyer, globex's buyer and
// dc-east's dock user.
func testUsers(testing.TB) map[string]string {
	u := func(email, role string) string {
		return fmt.Sprintf("{email: %s, password: %q, role: %s}", email, passwordHash(), role)
	}
	account := func(users ...string) string {
		s := "    users:\n"
		for _, x := range users {
			s += "      - " + x + "\n"
		}
		return s
	}
	return map[string]string{
		"acme":     account(u("buyer@acme.example", "buyer"), u("viewer@acme.example", "viewer")),
		"umbrella": account(u("buyer@umbrella.example", "buyer")),
		"globex":   account(u("buyer@globex.example", "buyer")),
		"dc-east":  ", users: [" + u("dock@dc-east.example", "buyer") + "]",
	}
}

// signInUser signs the client in as a portal user.
func (c *client) signInUser(email string) {
	c.e.t.Helper()
	c.get("/portal/signin")
	status, body, _ := c.post("/portal/signin", map[string][]string{"method": {"password"}, "email": {email}, "password": {password}})
	if status != 303 {
		c.e.t.Fatalf("sign in as %s: %d\n%s", email, status, body)
	}
	c.get("/portal/")
}

// signInTab signs a tab in as a portal user, through the sign-in form.
func (e *env) signInTab(tab *webtest.Tab, email string) {
	tab.Do(
		chromedp.Navigate(e.base+"/portal/signin"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin-password")),
		chromedp.WaitVisible(chromedp.CSS("form.signout")),
	)
}
