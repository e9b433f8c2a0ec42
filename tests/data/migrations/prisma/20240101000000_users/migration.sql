-- CreateTable
CREATE TABLE "users" ("id" BIGINT NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "users_pkey" PRIMARY KEY ("id"));
