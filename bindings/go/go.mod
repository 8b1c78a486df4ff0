module yelpkafka

go 1.19
