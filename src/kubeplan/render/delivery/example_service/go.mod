module example-service

go 1.26
