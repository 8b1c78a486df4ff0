# The two commands of the README, and a few for development.
# Every target runs the scripts in scripts/; read them for the details.

.PHONY: demo test bench build setup cluster-up cluster-down lint install

demo:
	scripts/demo.sh

test:
	scripts/test.sh

build:
	cargo build --release

# make install PREFIX=/usr/local [DESTDIR=...]: library, header, yelp_kafka.pc.
PREFIX ?= /usr/local
install:
	scripts/install.sh "$(PREFIX)" "$(DESTDIR)"

setup:
	scripts/setup.sh

cluster-up:
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

bench:
	bench/run.sh
