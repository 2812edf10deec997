package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/edge"
)

// errNoReload is what a role without reload answers to SIGHUP.
var errNoReload = errors.New("this role does not reload its configuration: restart it to apply changes")

// onHangup runs role until it returns; each SIGHUP meanwhile calls reload.
// A failed reload is logged with its reason and changes nothing: the
// running configuration stays. SIGHUP no longer ends the process.
func onHangup(ctx context.Context, log *slog.Logger, path string, reload func(context.Context) error, role func(context.Context) error) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- role(rctx) }()
	defer stop()
	for {
		select {
		case err := <-done:
			return err
		case <-hup:
			log.Info("SIGHUP: reloading the configuration", "file", path)
			if err := reload(rctx); err != nil {
				log.Error("configuration reload refused; the running configuration stays", "file", path, "err", err)
			}
		}
	}
}

// reloadEdge loads path again and applies its buses and devices to ed
// (edge.Reload); the metrics endpoint and every other section must be
// unchanged.
func reloadEdge(ed *edge.Edge, running *config.File, path string, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		f, profiles, err := loadConfig(path)
		if err != nil {
			return err
		}
		if f.Edge == nil {
			return fmt.Errorf("%s: no edge section", path)
		}
		if !reflect.DeepEqual(f.Metrics, running.Metrics) {
			return errors.New("metrics changed; only a restart applies it (nothing was changed)")
		}
		role, err := f.EdgeRole()
		if err != nil {
			return err
		}
		res, err := ed.Reload(ctx, role, driverRegistry(profiles))
		if err != nil {
			return err
		}
		if res.Unchanged() {
			log.Info("configuration reloaded: no bus or device changed", "file", path)
			return nil
		}
		log.Info("configuration reloaded", "file", path, "devices_added", res.Added, "devices_removed", res.Removed,
			"devices_changed", res.Changed, "buses_started", res.Started, "buses_stopped", res.Stopped, "buses_restarted", res.Restarted)
		return nil
	}
}

// noReload runs role, answering SIGHUP with a log line (errNoReload)
// instead of ending the process.
func noReload(log *slog.Logger, role func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		return onHangup(ctx, log, "", func(context.Context) error { return errNoReload }, role)
	}
}
