// Command rclone is rclone with only what traceval's cluster uses: the s3
// and local backends, `copy`/`sync`/`ls` for the OSS sync init container and
// `serve s3`, the in-cluster S3-compatible bucket server. Upstream's main
// imports every backend and command; this one builds in a fraction of the
// time.
package main

import (
	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/s3"
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/copy"
	_ "github.com/rclone/rclone/cmd/ls"
	_ "github.com/rclone/rclone/cmd/lsf"
	_ "github.com/rclone/rclone/cmd/serve"
	_ "github.com/rclone/rclone/cmd/serve/s3"
	_ "github.com/rclone/rclone/cmd/sync"
	_ "github.com/rclone/rclone/cmd/version"
)

func main() {
	cmd.Main()
}
