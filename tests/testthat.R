library(testthat)
library(scMVP)

test_check("scMVP")
