package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// errNoReload is what a role without reload answers to SIGHUP.
var errNoReload = errors.New("this role does not reload its configuration: restart it to apply changes")

// onHangup runs role until it returns; each SIGHUP meanwhile calls reload
// (nil: the role does not reload, and the signal is logged).
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
			if reload == nil {
				log.Warn("SIGHUP ignored: "+errNoReload.Error(), "file", path)
				continue
			}
			log.Info("SIGHUP: reloading the configuration", "file", path)
			if err := reload(rctx); err != nil {
				log.Error("configuration reload refused; the running configuration stays", "file", path, "err", err)
			}
		}
	}
}

// noReload runs role, configured from path, answering SIGHUP with a log
// line (errNoReload) instead of ending the process.
func noReload(log *slog.Logger, path string, role func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		return onHangup(ctx, log, path, nil, role)
	}
}
