package testenv

import (
	"testing"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
	"github.com/eipgw/eipgw/drivers/modbus"
	"github.com/eipgw/eipgw/drivers/opcua"
)

// Drivers is the driver registry the eipgw binary carries (Modbus with the
// built-in profiles) and the profile-name check config.Parse takes.
func Drivers(t testing.TB) (drivers.Registry, func(string) bool) {
	t.Helper()
	profiles, err := modbus.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return drivers.Registry{config.ProtocolModbus: modbus.Driver{Profiles: profiles}, config.ProtocolOPCUA: opcua.Driver{}}, profiles.Has
}
