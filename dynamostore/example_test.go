package dynamostore_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/lock"
)

// A store on table "locks" (create it once with CreateTable or the CLI's
// "table create"), and a client that takes locks in it. This example needs
// AWS credentials and a table, so it is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(dynamodb.NewFromConfig(cfg, dynamostore.Retries(4, 0)), "locks", nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := lock.New(store, lock.WithOwner("billing-worker"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)

	err = client.Do(ctx, "invoice-run", func(ctx context.Context, l *lock.Lock) error {
		log.Println("holding invoice-run with token", l.Token())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Record the result of the work and release the lock in one transaction:
// a holder that lost the lock (paused past its lease, say) commits nothing.
func ExampleCommitAndRelease() {
	ctx := context.Background()
	var client *lock.Client // as in the New example
	l, err := client.Acquire(ctx, "invoice-run")
	if err != nil {
		log.Fatal(err)
	}
	err = dynamostore.CommitAndRelease(ctx, l, []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String("invoices"),
		Item: map[string]types.AttributeValue{
			"run":   &types.AttributeValueMemberS{Value: "2026-12"},
			"state": &types.AttributeValueMemberS{Value: "done"},
		},
	}}})
	if err != nil {
		log.Fatal(err) // nothing was written; if the lock was lost, l.Err() says how
	}
}

// GuardCheck makes any transaction of yours conditional on still holding
// the lock: add it to the items.
func ExampleStore_GuardCheck() {
	ctx := context.Background()
	var (
		api   *dynamodb.Client   // your client
		store *dynamostore.Store // the lock store
		l     *lock.Lock         // a held lock
	)
	_, err := api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String("accounts"),
			Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "alice"}},
			UpdateExpression:          aws.String("ADD balance :d"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberN{Value: "5"}},
		}},
		store.GuardCheck(l.Guard()),
	}})
	if err != nil {
		log.Fatal(err) // canceled with ConditionalCheckFailed on the last item: the lock is gone
	}
}
