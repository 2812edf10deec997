package opcua

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/eipgw/eipgw/config"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// policyURI is the URI of a configured security policy.
func policyURI(name string) string {
	if name == config.OPCUAPolicyBasic256Sha256 {
		return ua.SecurityPolicyURIBasic256Sha256
	}
	return ua.SecurityPolicyURINone
}

// securityMode is the OPC UA message security mode of a configured one.
func securityMode(name string) ua.MessageSecurityMode {
	switch name {
	case config.OPCUAModeSign:
		return ua.MessageSecurityModeSign
	case config.OPCUAModeSignAndEncrypt:
		return ua.MessageSecurityModeSignAndEncrypt
	}
	return ua.MessageSecurityModeNone
}

// clientOptions reads the certificate files, asks the server for its
// endpoints and picks the configured one, and returns the options of a
// client for it. Every error names the endpoint and the file or setting.
func clientOptions(ctx context.Context, b *config.Bus) ([]opcua.Option, error) {
	o := b.OPCUA
	opts := []opcua.Option{
		opcua.AutoReconnect(false), // the source re-creates sessions itself
		opcua.ApplicationName("eipgw"),
		opcua.ApplicationURI(o.ApplicationURI),
		opcua.ProductURI("urn:eipgw"),
		opcua.SessionName("eipgw " + b.Name),
		opcua.SessionTimeout(o.SessionTimeout),
		opcua.RequestTimeout(b.Timeout),
		opcua.DialTimeout(b.Timeout),
	}
	if o.Certificate != "" {
		cert, key, err := localIdentity(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opcua.Certificate(cert), opcua.PrivateKey(key), opcua.ApplicationURI(o.ApplicationURI))
	}
	eps, err := opcua.GetEndpoints(ctx, o.Endpoint, opcua.DialTimeout(b.Timeout), opcua.RequestTimeout(b.Timeout))
	if err != nil {
		return nil, fmt.Errorf("get endpoints: %w", err)
	}
	var ep *ua.EndpointDescription
	want, mode := policyURI(o.SecurityPolicy), securityMode(o.SecurityMode)
	var offered []string
	for _, e := range eps {
		offered = append(offered, fmt.Sprintf("%s/%s", policyName(e.SecurityPolicyURI), modeName(e.SecurityMode)))
		if e.SecurityPolicyURI == want && e.SecurityMode == mode {
			ep = e
		}
	}
	if ep == nil {
		return nil, fmt.Errorf("the server offers no endpoint with security %s/%s (it offers %v)", o.SecurityPolicy, o.SecurityMode, offered)
	}
	if o.ServerCertificate != "" {
		pinned, err := readCertificate(o.ServerCertificate)
		if err != nil {
			return nil, fmt.Errorf("server_certificate: %w", err)
		}
		if !bytes.Equal(pinned, ep.ServerCertificate) {
			return nil, fmt.Errorf("the server's certificate is not the one pinned in %s", o.ServerCertificate)
		}
	}
	auth := ua.UserTokenTypeAnonymous
	if o.Username != "" {
		auth = ua.UserTokenTypeUserName
		opts = append(opts, opcua.AuthUsername(o.Username, o.Password))
	} else {
		opts = append(opts, opcua.AuthAnonymous())
	}
	if !offersToken(ep, auth) {
		return nil, fmt.Errorf("the server's %s/%s endpoint does not accept %s users", o.SecurityPolicy, o.SecurityMode, tokenName(auth))
	}
	opts = append(opts, opcua.SecurityFromEndpoint(ep, auth))
	return opts, nil
}

func offersToken(ep *ua.EndpointDescription, t ua.UserTokenType) bool {
	for _, p := range ep.UserIdentityTokens {
		if p.TokenType == t {
			return true
		}
	}
	return false
}

func tokenName(t ua.UserTokenType) string {
	if t == ua.UserTokenTypeUserName {
		return "username/password"
	}
	return "anonymous"
}

func policyName(uri string) string {
	if i := bytes.LastIndexByte([]byte(uri), '#'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

func modeName(m ua.MessageSecurityMode) string {
	switch m {
	case ua.MessageSecurityModeNone:
		return config.OPCUAModeNone
	case ua.MessageSecurityModeSign:
		return config.OPCUAModeSign
	case ua.MessageSecurityModeSignAndEncrypt:
		return config.OPCUAModeSignAndEncrypt
	}
	return m.String()
}

// CheckFiles reads the files of an OPC UA bus's security settings as a
// connection would (certificate and private key, a pinned server
// certificate) and returns every problem, each with its key: eipgw
// validate reports at start what would otherwise stop every connection.
func CheckFiles(b config.Bus) []FileError {
	o := b.OPCUA
	if o == nil {
		return nil
	}
	var errs []FileError
	if o.Certificate != "" {
		_, certErr := readCertificate(o.Certificate)
		_, keyErr := readKey(o.PrivateKey)
		switch {
		case certErr != nil || keyErr != nil:
			if certErr != nil {
				errs = append(errs, FileError{"certificate", certErr})
			}
			if keyErr != nil {
				errs = append(errs, FileError{"private_key", keyErr})
			}
		default:
			if _, _, err := localIdentity(o); err != nil {
				errs = append(errs, FileError{"certificate", err})
			}
		}
	}
	if o.ServerCertificate != "" {
		if _, err := readCertificate(o.ServerCertificate); err != nil {
			errs = append(errs, FileError{"server_certificate", err})
		}
	}
	return errs
}

// FileError is a file of a bus's opcua section that is wrong: Key names
// its setting (certificate, private_key, server_certificate).
type FileError struct {
	Key string
	Err error
}

// localIdentity reads the gateway's certificate and key and checks that
// they belong together and name the application URI.
func localIdentity(o *config.OPCUABus) ([]byte, *rsa.PrivateKey, error) {
	cert, err := readCertificate(o.Certificate)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	key, err := readKey(o.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("private_key: %w", err)
	}
	c, _ := x509.ParseCertificate(cert)
	if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("private_key %s is not the key of certificate %s", o.PrivateKey, o.Certificate)
	}
	if len(c.URIs) == 0 || c.URIs[0].String() != o.ApplicationURI {
		uris := "none"
		if len(c.URIs) > 0 {
			uris = c.URIs[0].String()
		}
		return nil, nil, fmt.Errorf("certificate %s: its URI (%s) must be the application_uri %s", o.Certificate, uris, o.ApplicationURI)
	}
	return cert, key, nil
}

// readCertificate reads an X.509 certificate, PEM or DER, and returns its
// DER bytes.
func readCertificate(path string) ([]byte, error) {
	b, err := config.ReadFileMax(path, config.MaxPEMSize, "a certificate file")
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %q, want CERTIFICATE", path, blk.Type)
		}
		b = blk.Bytes
	}
	if _, err := x509.ParseCertificate(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// readKey reads an RSA private key, PEM or DER, PKCS #1 or PKCS #8.
func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := config.ReadFileMax(path, config.MaxPEMSize, "a private key file")
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	if k, err := x509.ParsePKCS1PrivateKey(b); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key (PKCS #1 or #8, PEM or DER)", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T key; OPC UA needs RSA", path, k)
	}
	return rk, nil
}
