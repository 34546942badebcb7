# The crossdock binary in a small image. docker-compose.yml runs it as
# separate processes against a three-node NATS cluster.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /crossdock ./cmd/crossdock

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /crossdock /crossdock
COPY deploy /deploy
ENTRYPOINT ["/crossdock"]
CMD ["--accounts", "/deploy/accounts.example.yaml"]
