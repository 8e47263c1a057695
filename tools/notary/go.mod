module github.com/imgsign/imgsign/tools/notary

go 1.26.8

require github.com/theupdateframework/notary v0.7.0

require (
	github.com/BurntSushi/toml v0.3.1 // indirect
	github.com/Shopify/logrus-bugsnag v0.0.0-20170309145241-6dbc35f2c30d // indirect
	github.com/beorn7/perks v0.0.0-20150223135152-b965b613227f // indirect
	github.com/bugsnag/bugsnag-go v1.0.5-0.20150529004307-13fd6b8acda0 // indirect
	github.com/bugsnag/osext v0.0.0-20130617224835-0dd3f918b21b // indirect
	github.com/bugsnag/panicwrap v0.0.0-20151223152923-e2c28503fcd0 // indirect
	github.com/docker/distribution v2.7.1+incompatible // indirect
	github.com/docker/go v1.5.1-1.0.20160303222718-d30aec9fd63c // indirect
	github.com/docker/go-connections v0.4.0 // indirect
	github.com/docker/go-metrics v0.0.0-20180209012529-399ea8c73916 // indirect
	github.com/docker/libtrust v0.0.0-20160708172513-aabc10ec26b7 // indirect
	github.com/go-sql-driver/mysql v1.3.0 // indirect
	github.com/golang/protobuf v1.3.4 // indirect
	github.com/gorilla/mux v1.7.0 // indirect
	github.com/hailocab/go-hostpool v0.0.0-20160125115350-e80d13ce29ed // indirect
	github.com/inconshreveable/mousetrap v1.0.0 // indirect
	github.com/jinzhu/gorm v0.0.0-20170222002820-5409931a1bb8 // indirect
	github.com/jinzhu/inflection v0.0.0-20170102125226-1c35d901db3d // indirect
	github.com/konsorten/go-windows-terminal-sequences v1.0.2 // indirect
	github.com/kr/pretty v0.1.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/lib/pq v0.0.0-20150723085316-0dad96c0b94f // indirect
	github.com/magiconair/properties v1.5.3 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.1 // indirect
	github.com/miekg/pkcs11 v1.0.2 // indirect
	github.com/mitchellh/mapstructure v0.0.0-20150613213606-2caf8efc9366 // indirect
	github.com/opencontainers/go-digest v0.0.0-20170106003457-a6d0ee40d420 // indirect
	github.com/opencontainers/image-spec v1.0.1 // indirect
	github.com/opentracing/opentracing-go v1.1.0 // indirect
	github.com/pkg/errors v0.8.1 // indirect
	github.com/prometheus/client_golang v0.9.0-pre1.0.20180209125602-c332b6f63c06 // indirect
	github.com/prometheus/client_model v0.0.0-20171117100541-99fa1f4be8e5 // indirect
	github.com/prometheus/common v0.0.0-20180110214958-89604d197083 // indirect
	github.com/prometheus/procfs v0.0.0-20180125133057-cb4147076ac7 // indirect
	github.com/sirupsen/logrus v1.4.1 // indirect
	github.com/spf13/cast v0.0.0-20150508191742-4d07383ffe94 // indirect
	github.com/spf13/cobra v0.0.1 // indirect
	github.com/spf13/jwalterweatherman v0.0.0-20141219030609-3d60171a6431 // indirect
	github.com/spf13/pflag v1.0.0 // indirect
	github.com/spf13/viper v0.0.0-20150530192845-be5ff3e4840c // indirect
	golang.org/x/crypto v0.0.0-20201117144127-c1f2f97bffc9 // indirect
	golang.org/x/net v0.0.0-20190404232315-eb5bcb51f2a3 // indirect
	golang.org/x/sys v0.0.0-20191120155948-bd437916bb0e // indirect
	golang.org/x/term v0.0.0-20201117132131-f5c789dd3221 // indirect
	golang.org/x/text v0.3.0 // indirect
	google.golang.org/grpc v1.0.5 // indirect
	gopkg.in/cenkalti/backoff.v2 v2.2.1 // indirect
	gopkg.in/rethinkdb/rethinkdb-go.v6 v6.2.1 // indirect
	gopkg.in/yaml.v2 v2.2.8 // indirect
)
