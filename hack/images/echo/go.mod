module purelb.io/hack/images/echo

go 1.24
