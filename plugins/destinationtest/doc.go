// Package destinationtest checks a destination against the contract every
// Switchboard destination keeps, and offers what a destination's own tests
// need: an in-memory Host (MemoryHost), a way to run a destination through
// the real gRPC shim in process (Connect), and a test logger (Logger).
//
// A destination's test calls Run with a Factory:
//
//	func TestContract(t *testing.T) {
//		destinationtest.Run(t, destinationtest.Factory{
//			New:      func(testing.TB) plugins.Destination { return &Webhook{} },
//			Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
//				return map[string]any{"url": r.URL}
//			},
//			Accept: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}),
//			Refuse: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
//				http.Error(w, "bad event", http.StatusBadRequest)
//			}),
//		})
//	}
//
// It is for tests only and must not be imported by production code: it
// depends on package testing and starts servers.
package destinationtest
