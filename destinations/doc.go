// Package destinations groups Switchboard's built-in destinations, one
// sub-package each (metacapi, webhook, …), every one built on the public
// plugin SDK in plugins/ exactly as a third party's would be. Built-ins ship
// inside the switchboard binary and still run out of process.
//
// Nothing lives in this package itself.
package destinations
