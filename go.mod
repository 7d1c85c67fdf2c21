module github.com/scopegate/scopegate

go 1.26.8
