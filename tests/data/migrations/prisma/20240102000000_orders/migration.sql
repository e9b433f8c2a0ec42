-- CreateTable
CREATE TABLE "orders" ("id" BIGINT NOT NULL, "user_id" BIGINT NOT NULL, CONSTRAINT "orders_pkey" PRIMARY KEY ("id"));
-- AddForeignKey
ALTER TABLE "orders" ADD CONSTRAINT "orders_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
