package compat

// Listener security with Go clients: franz-go's SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over
// Go's crypto/tls against a SASL_SSL broker, and segmentio/kafka-go's SCRAM (xdg-go/scram) on
// SASL_PLAINTEXT. The certificates are made here with crypto/x509.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	secUser     = "alice"
	secPassword = "alice-secret"
)

// testPKI writes a CA and a broker certificate for 127.0.0.1 and localhost into dir, and returns
// a pool that trusts the CA.
func testPKI(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "weir-go-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("broker.pem", "CERTIFICATE", der)
	write("broker.key", "PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

func TestFranzGoEveryMechanismOverSaslSsl(t *testing.T) {
	dir := t.TempDir()
	pool := testPKI(t, dir)
	b := startBrokerT(t, "--security-protocol", "SASL_SSL", "--sasl-users", secUser+":"+secPassword,
		"--tls-cert-file", filepath.Join(dir, "broker.pem"), "--tls-key-file", filepath.Join(dir, "broker.key"))
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tlsCfg}
	mechanisms := map[string]func(password string) sasl.Mechanism{
		"PLAIN": func(pw string) sasl.Mechanism { return plain.Auth{User: secUser, Pass: pw}.AsMechanism() },
		"SCRAM-SHA-256": func(pw string) sasl.Mechanism {
			return scram.Auth{User: secUser, Pass: pw}.AsSha256Mechanism()
		},
		"SCRAM-SHA-512": func(pw string) sasl.Mechanism {
			return scram.Auth{User: secUser, Pass: pw}.AsSha512Mechanism()
		},
	}
	for name, mech := range mechanisms {
		t.Run(name, func(t *testing.T) {
			cl := newClient(t, b, kgo.Dialer(dialer.DialContext), kgo.SASL(mech(secPassword)))
			adm := kadm.NewClient(cl)
			topic := topicName(t)
			mustCreateTopic(t, adm, topic, 1, nil)
			for i := 0; i < 10; i++ {
				if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: []byte{byte(i)}}).FirstErr(); err != nil {
					t.Fatalf("produce over %s: %v", name, err)
				}
			}
			recs := consume(t, b, topic, 0, 0, 10, kgo.Dialer(dialer.DialContext), kgo.SASL(mech(secPassword)))
			if len(recs) != 10 || recs[9].Value[0] != 9 {
				t.Fatalf("read back %d records", len(recs))
			}

			bad := newClient(t, b, kgo.Dialer(dialer.DialContext), kgo.SASL(mech("wrong")))
			_, err := kadm.NewClient(bad).ListTopics(ctxTimeout(t, 15*time.Second))
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("wrong password over %s: want SASL_AUTHENTICATION_FAILED, got %v", name, err)
			}
		})
	}
}

func TestKafkaGoScramOnSaslPlaintext(t *testing.T) {
	b := startBrokerT(t, "--security-protocol", "SASL_PLAINTEXT", "--sasl-users", secUser+":"+secPassword)
	mech, err := kgoscram.Mechanism(kgoscram.SHA512, secUser, secPassword)
	if err != nil {
		t.Fatal(err)
	}
	transport := &kafkago.Transport{SASL: mech}
	topic := topicName(t)
	w := &kafkago.Writer{Addr: kafkago.TCP(b.Kafka), Topic: topic, Transport: transport,
		AllowAutoTopicCreation: true, RequiredAcks: kafkago.RequireOne, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("scram-from-kafka-go")})
		if err == nil {
			break
		}
		// The topic is auto-created by the first write's metadata request.
		if ctx.Err() != nil || !strings.Contains(err.Error(), "Unknown Topic") && !errors.Is(err, kafkago.LeaderNotAvailable) && !errors.Is(err, kafkago.UnknownTopicOrPartition) {
			t.Fatalf("write: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{b.Kafka}, Topic: topic, Partition: 0,
		Dialer: &kafkago.Dialer{Timeout: 10 * time.Second, SASLMechanism: mech}, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(m.Value) != "scram-from-kafka-go" {
		t.Fatalf("read %q", m.Value)
	}
}
