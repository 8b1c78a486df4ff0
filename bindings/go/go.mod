module github.com/Yelp/libyelp_kafka/bindings/go

go 1.19
