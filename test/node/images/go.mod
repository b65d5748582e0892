module podhooks.test/images

go 1.26
