module mailflow

go 1.26.8

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/crypto v0.11.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	software.sslmate.com/src/go-pkcs12 v0.7.4 // indirect
)
